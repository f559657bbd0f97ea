"""Start argilla-server (run with `.argilla-venv/bin/python`) with the SQL search engine registered.

The search engine must be registered in the server process before the app starts; that is all
this launcher adds to `python -m argilla_server start`. Configuration comes from ARGILLA_* env
variables set by `scripts/argilla-server.sh`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import argilla_sqlsearch  # noqa: E402,F401  (registers "sqlsearch" through SearchEngine.register)
import uvicorn  # noqa: E402


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run("argilla_server:app", host=host, port=port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
