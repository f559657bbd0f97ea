#!/usr/bin/env python3
"""Deterministic generator of realistic production LLM chat logs (JSONL) for sluice demos,
tests and benchmarks. Standalone: stdlib + faker + orjson + zstandard; never imports sluice.

    python examples/generate_logs.py --n 1000 --seed 0 --out logs.jsonl.zst \
        [--format chat|request-response] [--malformed-rate 0.01] [--clean]

The same arguments always give byte-identical output (`.gz` is written with mtime=0).
Importable API: ``generate_lines(n, seed, fmt, malformed_rate, clean)`` yields lines (bytes,
no newline); ``write(path, ...)`` writes them and returns counts over the *valid* lines.

Format "chat" (OpenAI fine-tuning style plus production fields), keys in this order:
    {"id": "conv_0000000123", "created_at": "2026-03-01T12:34:56Z", "model": "gpt-4o-mini-2024-07-18",
     "messages": [{"role": "system"|"user"|"assistant"|"tool", "content": str|null, ...}, ...],
     "tools": [{"type": "function", "function": {"name", "description", "parameters"}}],   # tool chats only
     "feedback": {"thumb": "up"|"down"|null, "rating": 1-5|null, "edited": str|null,
                  "comment": str|null},                                                  # ~30% of records
     "metadata": {"user_id", "app", "session_id", "latency_ms", "region"}}
  A tool flow is: assistant {"content": null, "tool_calls": [{"id": "call_..", "type": "function",
  "function": {"name", "arguments": "<JSON string>"}}]}, then {"role": "tool", "tool_call_id",
  "content": "<JSON string>"}, then the final assistant answer. Every valid chat record ends with
  an assistant message whose content is a string (possibly "" for empty answers).

Format "request-response" (an OpenAI-style gateway log):
    {"request_id": "req_<24 hex>", "timestamp": "2026-03-01T12:34:56.789Z", "latency_ms": int,
     "request": {"model": "gpt-4o-mini", "messages": [...every turn before the answer...],
                 "tools"?: [...], "temperature": float, "max_tokens"?: int},
     "response": {"id": "chatcmpl-...", "object": "chat.completion", "created": unix int, "model",
                  "choices": [{"index": 0, "message": {assistant message}, "finish_reason":
                               "stop"|"length"|"tool_calls"}], "usage": {prompt/completion/total_tokens}},
     "feedback"?: {...as above...}, "metadata": {"user_id", "app"}}
  Truncated answers have finish_reason "length"; ~40% of tool flows end at the tool call
  (finish_reason "tool_calls", content null).

Content: 1-4 exchanges; system prompt on ~70%; apps support-bot / coding-assistant / travel-agent
/ hr-helpdesk / general-assistant; ~75% English, rest de/fr/es/zh/ja/ru; ~40% plant PII (names,
emails, phones, cards, addresses, IBANs, IPs, rarely `sk-` API keys) in user turns, echoed in
answers, tool arguments/results and feedback; ~10% tool flows; ~3% exact duplicates (same
messages, new id/timestamp); ~3% near duplicates (one small edit); ~3% refusals; ~2% truncated;
~1% empty answers; a few very long and repetitive answers. No two valid records share their
messages unless counted as an exact duplicate.

--n counts every line. Malformed lines: round(n * --malformed-rate) of them, spread uniformly, never
with --clean; when n >= 200 and the rate is > 0 there is at least one of each kind:
    bad_json, wrong_type, unknown_role, missing_role, empty_messages, no_assistant,
    invalid_utf8, oversized (> 2 MiB; 1-2 per file and only when n >= 1000), not_object, blank_line.
"""
from __future__ import annotations

import argparse
import calendar
import gzip
import hashlib
import random
import re
import sys
import time
from functools import lru_cache
from typing import Iterator

import orjson

MALFORMED_KINDS = ("bad_json", "wrong_type", "unknown_role", "missing_role", "empty_messages",
                   "no_assistant", "invalid_utf8", "oversized", "not_object", "blank_line")
OVERSIZED_BYTES = 2 * 1024 * 1024  # records above this are "oversized"
FORMATS = ("chat", "request-response")
LOCALES = {"en": "en_US", "de": "de_DE", "fr": "fr_FR", "es": "es_ES", "zh": "zh_CN",
           "ja": "ja_JP", "ru": "ru_RU"}
LANG_WEIGHTS = {"en": 75, "de": 6, "fr": 5, "es": 5, "zh": 5, "ja": 2, "ru": 2}
APPS = {"support": "support-bot", "coding": "coding-assistant", "travel": "travel-agent",
        "hr": "hr-helpdesk", "general": "general-assistant"}
EN_DOMAINS = {"support": 30, "coding": 25, "travel": 15, "hr": 10, "general": 20}
INTL_DOMAINS = {"support": 45, "travel": 25, "general": 30}
MODELS = [("gpt-4o-mini", "gpt-4o-mini-2024-07-18"), ("gpt-4o", "gpt-4o-2024-08-06"),
          ("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"), ("gpt-4.1", "gpt-4.1-2025-04-14"),
          ("gpt-3.5-turbo", "gpt-3.5-turbo-0125")]
MODEL_WEIGHTS = (45, 25, 15, 5, 10)
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1")
BASE_TS = calendar.timegm((2026, 3, 1, 0, 0, 0))
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
PII_KINDS = ("name", "email", "phone", "card", "address", "iban", "ip", "apikey")
CJK = ("zh", "ja")

# ----------------------------------------------------------------------------- text banks
# One bank per language, one "key: entry|entry|..." line per key ("\n" = newline). Keys:
# system[.domain], greet, ack (start of a follow-up turn), follow (follow-up questions), context,
# opener/closer (of answers), refusal, tool_ask.<domain> (a question that triggers the tool),
# user.<domain>, assistant.<domain> (answer sentences), pii / pii_rare (PII sentences planted in
# user turns), echo (kind=answer sentence repeating that PII). {slot}s are filled per conversation.
_BANK_TEXT = {
    "en": r"""
system.support: You are a helpful customer support assistant for {shop}, an online store. Be concise and friendly.|You are {shop}'s support agent. Answer questions about orders, returns and refunds. Never ask for full card numbers.
system.coding: You are an expert programming assistant. Answer with working code and short explanations.|You are a senior software engineer helping colleagues debug their code. Prefer {plang} examples.
system.travel: You are a travel booking assistant for {agency}. Help users find and manage flights and hotels.|You help customers of {agency} with bookings, changes and baggage questions. Today is {date}.
system.hr: You are the internal HR helpdesk assistant for {company}. Answer questions about company policies.|You answer employee questions about leave, payroll and benefits at {company}. If unsure, refer to the HR team.
system.general: You are a helpful assistant.|You are a friendly, knowledgeable assistant. Keep answers short unless asked otherwise.
greet: Hi,|Hello!|Hey there.|Good morning,|Quick question:|Hi team,
ack: Thanks!|OK.|Great, thank you.|Got it.|Hmm, that didn't work.|Perfect.
follow: Can you make that shorter?|Could you explain that in more detail?|What if that doesn't work?|Is there another way to do it?|Can you give me an example?|How long will that take?
context: I've already tried restarting it.|This is kind of urgent.|Thanks in advance!|I already emailed you about this yesterday.|Any help appreciated.|I'm new to this, sorry if it's a dumb question.
opener: Sure!|Of course.|Thanks for reaching out.|Great question!|Happy to help.|Certainly.
closer: Let me know if there's anything else I can help with.|Hope this helps!|Is there anything else you need?|Feel free to ask if you have more questions.
refusal: As an AI language model, I cannot provide that information.|I'm sorry, but I can't help with that.|As an AI language model, I don't have personal opinions, but I can share some general information.|I'm sorry, but I cannot assist with that request.|I apologize, but I'm not able to help with this request as it may violate our usage policies.|Unfortunately, I can't access your personal account details. Please contact our support team directly.
tool_ask.support: Can you check the status of order {order}?|What's happening with my order {order}? My email is on the account.
tool_ask.coding: Is there anything in our internal docs about how to {task}?
tool_ask.travel: Can you search flights from {city} to {city2} on {date} for {pax} people?|Are there any flights from {city} to {city2} on {date}?
tool_ask.hr: Can you check my leave balance?|How many vacation days do I have left this year?
tool_ask.general: What's the weather like in {city} right now?|Do I need an umbrella in {city} today?
user.support: Where is my order {order}? It was supposed to arrive on {date}.|I ordered a {product} last week and it still hasn't shipped. Can you check order {order}?|How do I return a {product}? It arrived damaged.|Can I change the delivery address for order {order}?|I was charged twice for my {product}. Can you refund one of the payments?|Do you ship to {country}? How long does it take?|The {product} I received is the wrong size. Can I exchange it for a {size} one?|My discount code {code} isn't working at checkout.|How long does a refund take to show up on my card?|Is the {product} back in stock? I'd like to order {count}.|I want to cancel my subscription. How do I do that?|The tracking page for {order} hasn't updated in {days} days.
assistant.support: I'm sorry to hear about the trouble with your {product}.|I've checked order {order} and it is currently with the carrier.|According to our records, the package left our warehouse on {date}.|You can start a return from the Orders page by selecting the item and clicking 'Return item'.|Refunds are usually processed within {days} business days after we receive the item.|I've issued a refund of {amount} to your original payment method.|We ship to {country}; standard delivery takes {days} to {days2} business days.|The code {code} expired at the end of last month, but I've applied a 10% credit to your account instead.|If the parcel doesn't arrive by {date}, reply here and we'll send a replacement free of charge.|Exchanges are free within 30 days as long as the item is unused and in its original packaging.|You'll receive a confirmation email with a prepaid shipping label shortly.|The {product} is expected to be back in stock around {date}.|To cancel your subscription, go to Account Settings, then Subscriptions, and choose 'Cancel plan'.
user.coding: How do I {task} in {plang}?|I'm getting `{error}` when I run my {plang} script. What does it mean?|Can you explain the difference between {pair}?|Why is my {plang} code so slow when I {task}?|Write a function that {task2}.|What's the best way to {task} with {lib}?|My tests pass locally but fail in CI with `{error}`. Any ideas?|Is it a good idea to use {lib} for a small project?|How do I {task} without loading everything into memory?
assistant.coding: This error usually means a value is not what the code expects at that point.|In {plang}, the idiomatic way to {task} is to use the standard library rather than writing it by hand.|Make sure you pin the version of {lib} in your requirements file.|If performance matters, avoid creating new objects inside the hot loop.|You can profile the code with a sampling profiler to see where the time actually goes.|The difference between {pair} mostly comes down to mutability and how they are used.|CI environments often differ from your laptop: check the runtime version, environment variables and working directory.|Let me know if you'd like me to add type hints or tests.|Note that this runs in O(n log n) time because of the sort.|Streaming the input line by line keeps memory usage constant.|Add a small test case that reproduces the bug before fixing it.|{lib} is a solid choice, but it adds a dependency you'll have to maintain.
user.travel: I need a flight from {city} to {city2} on {date} for {pax} people.|Can I change my booking {booking} to a later flight?|What's the baggage allowance on {airline} for economy?|Find me a hotel in {city2} near the city centre for {nights} nights under {amount} per night.|My flight {flight} was cancelled. What are my options?|Do I need a visa to travel to {country} with a {nationality} passport?|Is it possible to add a seat with extra legroom to booking {booking}?|What's the cheapest time to fly to {city2}?
assistant.travel: I found {count} flights from {city} to {city2} on {date}; the cheapest is {amount} with {airline}.|Your booking {booking} can be changed for a fee of {amount} plus any fare difference.|Economy tickets on {airline} include one carry-on bag up to 8 kg; checked bags cost extra.|Here are three hotels in {city2} with good reviews and free cancellation.|Since flight {flight} was cancelled by the airline, you're entitled to a full refund or free rebooking.|Visa requirements change often, so please confirm with the official embassy website before you travel.|I've added an extra-legroom seat to booking {booking}; the charge is {amount}.|Would you like me to hold this fare for 24 hours?|Prices are usually lowest about six to eight weeks before departure.
user.hr: How many vacation days do I have left this year?|What's the policy for working remotely from {country}?|How do I submit an expense report for my trip to {city}?|When is the next payroll date?|Can I carry over unused leave to next year?|I'm going on parental leave in {month}. What do I need to do?|Who do I talk to about a conflict with my manager?|Does the company pay for a {course} course?
assistant.hr: Full-time employees get {days} days of paid vacation per year, prorated in the first year.|You can see your remaining balance in the HR portal under Time Off.|Expense reports must be submitted within 30 days with itemized receipts attached.|Working remotely from another country for more than {days} days requires approval from HR and your manager.|Payroll runs on the last business day of each month.|Up to five unused vacation days can be carried over to the following year.|Please notify your manager and HR at least eight weeks before your parental leave starts.|You can also reach out confidentially to the employee assistance program.|The learning budget covers up to {amount} per year for job-related courses.
user.general: Can you explain how {science} works in simple terms?|Give me {count} ideas for a birthday party for a {age}-year-old.|Summarize the main causes of {event}.|What's a good recipe for {dish}?|How do you say 'good morning, how are you?' in {language}?|What's the weather usually like in {city} in {month}?|Help me write a short email to my landlord about a broken {appliance}.|What are some good books about {science}?
assistant.general: Here's a quick overview.|In simple terms, {science} is easier to understand if you break it into a few steps.|The main causes of {event} were economic pressure, political instability and a series of short-term triggers.|For {dish}, you'll need about 45 minutes including preparation.|Preheat the oven to 180°C and prepare all the ingredients before you start.|Here are a few ideas: a treasure hunt, a backyard movie night, a DIY pizza station and a costume party.|In {language}, the phrasing changes depending on how formal you want to be.|{city} is usually mild in {month}, but it's worth packing a light rain jacket.|Here's a short draft you can adapt:\n\nDear landlord,\n\nThe {appliance} in my apartment has stopped working. Could you arrange a repair at your earliest convenience?\n\nBest regards|Historians still debate how much weight to give to each factor.|Keep in mind that this is a simplified explanation.|If you want, I can go into more detail on any of these points.
pii: My name is {name} and you can reach me at {email}.|Please call me back on {phone}.|I paid with my card {card}, if that helps.|Please ship it to {address} instead.|You can send the refund to my IBAN {iban}.|I'm {name}, my phone number is {phone}.|My email is {email} and I live at {address}.|The requests come from our server at {ip}.
pii_rare: Here's my config: OPENAI_API_KEY={apikey}|I'm using the key {apikey} and it says unauthorized.
echo: name=Thanks, {name}.|email=I've noted {email} as your contact address.|phone=We'll call you on {phone} within 24 hours.|address=I've updated the delivery address to {address}.|iban=The refund will go to {iban}.|ip=I can see failed requests from {ip} in the logs.|card=Please don't share full card numbers like {card} in chat; I've removed it from our notes.|apikey=Your key {apikey} is now exposed, so please rotate it immediately.
""",
    "de": r"""
system.support: Du bist ein freundlicher Kundenservice-Assistent eines Onlineshops. Antworte kurz und höflich.
system: Du bist ein hilfreicher Assistent. Antworte auf Deutsch.
greet: Hallo,|Guten Tag!|Hi,
ack: Danke!|Alles klar.|Okay, verstanden.
follow: Kannst du das kürzer erklären?|Und was mache ich, wenn das nicht funktioniert?|Gibt es noch eine andere Möglichkeit?
context: Ich habe schon zweimal angerufen.|Es ist ziemlich dringend.|Vielen Dank im Voraus!
opener: Gerne!|Natürlich.|Danke für Ihre Nachricht.
closer: Kann ich sonst noch etwas für Sie tun?|Ich hoffe, das hilft weiter.
refusal: Es tut mir leid, aber dabei kann ich Ihnen nicht helfen.|Als KI-Sprachmodell kann ich diese Anfrage leider nicht erfüllen.
user.support: Wo ist meine Bestellung {order}? Sie sollte am {date} ankommen.|Wie kann ich ein beschädigtes Produkt zurückschicken?|Mir wurde die Bestellung {order} doppelt berechnet.|Kann ich die Lieferadresse für {order} noch ändern?
assistant.support: Das tut mir leid, ich kümmere mich sofort darum.|Ihre Bestellung {order} ist bereits unterwegs und wird voraussichtlich am {date} zugestellt.|Sie können die Rücksendung im Kundenkonto unter „Meine Bestellungen“ starten.|Die Erstattung über {amount} erfolgt innerhalb von {days} Werktagen.|Sie erhalten in Kürze eine Bestätigung per E-Mail.
user.travel: Ich brauche einen Flug von {city} nach {city2} am {date}.|Kann ich meine Buchung {booking} auf einen späteren Flug umbuchen?|Wie viel Gepäck darf ich in der Economy Class mitnehmen?
assistant.travel: Ich habe {count} Verbindungen gefunden, die günstigste kostet {amount}.|Eine Umbuchung ist gegen eine Gebühr von {amount} möglich.|In der Economy Class ist ein Handgepäckstück bis 8 kg inklusive.|Soll ich den Tarif für 24 Stunden reservieren?
user.general: Wie ist das Wetter normalerweise in {city}?|Kannst du mir ein einfaches Rezept für Kartoffelsalat geben?|Erkläre mir bitte kurz, wie Photosynthese funktioniert.
assistant.general: Gute Frage!|Pflanzen wandeln mit Sonnenlicht Wasser und Kohlendioxid in Zucker und Sauerstoff um.|In {city} ist es meistens mild, aber es regnet oft.|Für den Salat brauchst du Kartoffeln, Zwiebeln, Brühe, Essig und Öl.|Lass mich wissen, wenn du mehr Details brauchst.
pii: Ich heiße {name}, meine E-Mail-Adresse ist {email}.|Sie erreichen mich unter {phone}.|Bitte liefern Sie an {address}.|Meine IBAN lautet {iban}.|Ich habe mit der Karte {card} bezahlt.
echo: name=Vielen Dank, {name}.|email=Ich habe {email} als Kontaktadresse hinterlegt.|phone=Wir rufen Sie unter {phone} zurück.|address=Die neue Lieferadresse lautet {address}.|iban=Die Erstattung geht an die IBAN {iban}.|card=Bitte teilen Sie keine vollständigen Kartennummern wie {card} im Chat.
""",
    "fr": r"""
system.support: Tu es un assistant du service client d'une boutique en ligne. Réponds poliment et brièvement.
system: Tu es un assistant utile. Réponds en français.
greet: Bonjour,|Salut !|Bonsoir,
ack: Merci !|D'accord.|Très bien, merci.
follow: Tu peux faire plus court ?|Et si ça ne marche pas ?|Il y a une autre solution ?
context: J'ai déjà appelé deux fois.|C'est assez urgent.|Merci d'avance !
opener: Bien sûr !|Avec plaisir.|Merci pour votre message.
closer: Puis-je vous aider pour autre chose ?|J'espère que cela vous aide.
refusal: Je suis désolé, mais je ne peux pas vous aider avec cela.|En tant que modèle de langage, je ne peux pas répondre à cette demande.
user.support: Où en est ma commande {order} ? Elle devait arriver le {date}.|Comment retourner un article endommagé ?|On m'a débité deux fois pour la commande {order}.|Puis-je modifier l'adresse de livraison de la commande {order} ?
assistant.support: Je suis désolé pour ce désagrément.|Votre commande {order} a été expédiée et devrait arriver le {date}.|Vous pouvez lancer le retour depuis votre espace client.|Le remboursement de {amount} sera effectué sous {days} jours ouvrés.|Vous recevrez bientôt un e-mail de confirmation.
user.travel: Je cherche un vol de {city} à {city2} le {date}.|Puis-je changer ma réservation {booking} pour un vol plus tard ?|Quelle est la franchise bagages en classe économique ?
assistant.travel: J'ai trouvé {count} vols, le moins cher coûte {amount}.|Le changement est possible moyennant des frais de {amount}.|Un bagage cabine de 8 kg est inclus en classe économique.|Voulez-vous que je bloque ce tarif pendant 24 heures ?
user.general: Quel temps fait-il en général à {city} ?|Tu as une recette simple de quiche lorraine ?|Explique-moi simplement comment fonctionne la photosynthèse.
assistant.general: Bonne question !|Les plantes transforment l'eau et le dioxyde de carbone en sucre grâce à la lumière.|À {city}, le climat est plutôt doux mais il pleut souvent.|Pour la quiche, il faut des œufs, de la crème, des lardons et une pâte brisée.|N'hésite pas si tu veux plus de détails.
pii: Je m'appelle {name}, mon e-mail est {email}.|Vous pouvez me joindre au {phone}.|Merci de livrer à l'adresse suivante : {address}.|Mon IBAN est {iban}.
echo: name=Merci, {name}.|email=J'ai bien noté l'adresse {email}.|phone=Nous vous rappellerons au {phone}.|address=La nouvelle adresse de livraison est {address}.|iban=Le remboursement sera versé sur l'IBAN {iban}.
""",
    "es": r"""
system.support: Eres un asistente de atención al cliente de una tienda online. Responde de forma breve y amable.
system: Eres un asistente útil. Responde en español.
greet: Hola,|¡Buenos días!|Buenas,
ack: ¡Gracias!|Vale.|Perfecto, gracias.
follow: ¿Puedes resumirlo?|¿Y si eso no funciona?|¿Hay otra forma de hacerlo?
context: Ya he llamado dos veces.|Es bastante urgente.|¡Gracias de antemano!
opener: ¡Claro!|Por supuesto.|Gracias por escribirnos.
closer: ¿Puedo ayudarte con algo más?|Espero que te sirva.
refusal: Lo siento, pero no puedo ayudarte con eso.|Como modelo de lenguaje de IA, no puedo atender esa solicitud.
user.support: ¿Dónde está mi pedido {order}? Tenía que llegar el {date}.|¿Cómo devuelvo un producto dañado?|Me han cobrado dos veces el pedido {order}.|¿Puedo cambiar la dirección de entrega del pedido {order}?
assistant.support: Siento mucho las molestias.|Tu pedido {order} ya está en camino y debería llegar el {date}.|Puedes iniciar la devolución desde tu cuenta, en «Mis pedidos».|El reembolso de {amount} se hará en un plazo de {days} días hábiles.|Recibirás un correo de confirmación en breve.
user.travel: Necesito un vuelo de {city} a {city2} el {date}.|¿Puedo cambiar mi reserva {booking} a un vuelo más tarde?|¿Cuánto equipaje puedo llevar en clase turista?
assistant.travel: He encontrado {count} vuelos; el más barato cuesta {amount}.|El cambio tiene un coste de {amount} más la diferencia de tarifa.|En clase turista se incluye una maleta de mano de hasta 8 kg.|¿Quieres que te reserve esta tarifa durante 24 horas?
user.general: ¿Qué tiempo suele hacer en {city}?|¿Me das una receta fácil de tortilla de patatas?|Explícame de forma sencilla cómo funciona la fotosíntesis.
assistant.general: ¡Buena pregunta!|Las plantas convierten agua y dióxido de carbono en azúcar usando la luz del sol.|En {city} el clima suele ser templado.|Para la tortilla necesitas patatas, huevos, cebolla, aceite y sal.|Si quieres, te doy más detalles.
pii: Me llamo {name} y mi correo es {email}.|Mi teléfono es {phone}.|Por favor, envíalo a {address}.|Mi IBAN es {iban}.
echo: name=Gracias, {name}.|email=He registrado {email} como correo de contacto.|phone=Te llamaremos al {phone}.|address=He actualizado la dirección de entrega a {address}.|iban=El reembolso se enviará al IBAN {iban}.
""",
    "zh": r"""
system.support: 你是一家网店的客服助手，请简洁礼貌地回答。
system: 你是一个乐于助人的助手，请用中文回答。
greet: 你好，|您好！|在吗？
ack: 谢谢！|好的。|明白了。
follow: 能说得简短一点吗？|如果还是不行怎么办？|还有别的办法吗？
context: 我已经打过两次电话了。|这件事比较急。|先谢谢了！
opener: 好的！|没问题。|感谢您的咨询。
closer: 还有什么可以帮您的吗？|希望对您有帮助。
refusal: 抱歉，我无法帮助您处理这个请求。|作为一个人工智能语言模型，我无法回答这个问题。
user.support: 我的订单{order}到哪里了？本来应该{date}到的。|收到的商品有损坏，怎么退货？|订单{order}被重复扣款了。|订单{order}可以修改收货地址吗？
assistant.support: 非常抱歉给您带来不便。|您的订单{order}已经发货，预计{date}送达。|您可以在“我的订单”页面申请退货。|{amount}的退款将在{days}个工作日内到账。|稍后您会收到一封确认邮件。
user.travel: 我需要一张{date}从{city}到{city2}的机票。|我的预订{booking}可以改到晚一点的航班吗？|经济舱可以带多少行李？
assistant.travel: 我找到了{count}个航班，最便宜的是{amount}。|改签需要支付{amount}的手续费。|经济舱包含一件8公斤以内的手提行李。|需要我帮您保留这个价格24小时吗？
user.general: {city}的天气一般怎么样？|能给我一个简单的番茄炒蛋做法吗？|请简单解释一下光合作用是怎么回事。
assistant.general: 好问题！|植物利用阳光把水和二氧化碳转化为糖和氧气。|{city}气候比较温和，但经常下雨。|番茄炒蛋需要番茄、鸡蛋、盐和少许糖。|如果需要，我可以再详细说明。
pii: 我叫{name}，邮箱是{email}。|我的电话是{phone}。|请寄到{address}。|我的银行卡号是{card}。
echo: name={name}，您好。|email=已将{email}登记为您的联系邮箱。|phone=我们会拨打{phone}联系您。|address=收货地址已更新为{address}。|card=请不要在聊天中发送完整的卡号，例如{card}。
""",
    "ja": r"""
system.support: あなたはオンラインショップのカスタマーサポート担当です。丁寧に簡潔に答えてください。
system: あなたは親切なアシスタントです。日本語で答えてください。
greet: こんにちは。|すみません、|お世話になっております。
ack: ありがとうございます！|わかりました。|了解です。
follow: もう少し短く説明してもらえますか？|それでもだめな場合はどうすればいいですか？|他の方法はありますか？
context: すでに二回電話しました。|少し急いでいます。|よろしくお願いします。
opener: かしこまりました。|もちろんです。|お問い合わせありがとうございます。
closer: 他にお手伝いできることはありますか？|お役に立てれば幸いです。
refusal: 申し訳ありませんが、そのご依頼にはお応えできません。|AI言語モデルとして、その質問にはお答えできません。
user.support: 注文{order}はどこにありますか？{date}に届く予定でした。|届いた商品が壊れていました。返品方法を教えてください。|注文{order}で二重に請求されています。|注文{order}の配送先を変更できますか？
assistant.support: ご迷惑をおかけして申し訳ございません。|ご注文{order}は発送済みで、{date}にお届け予定です。|「注文履歴」ページから返品手続きができます。|{amount}の返金は{days}営業日以内に行われます。|まもなく確認メールが届きます。
user.travel: {date}に{city}から{city2}への航空券を探しています。|予約{booking}を後の便に変更できますか？|エコノミークラスの手荷物はいくつまでですか？
assistant.travel: {count}件の便が見つかりました。最安値は{amount}です。|変更手数料{amount}で変更可能です。|エコノミークラスでは8kgまでの機内持ち込み手荷物が含まれます。|この運賃を24時間確保しましょうか？
user.general: {city}の天気は普段どうですか？|簡単な肉じゃがの作り方を教えてください。|光合成の仕組みを簡単に説明してください。
assistant.general: 良い質問ですね！|植物は日光を使って水と二酸化炭素から糖と酸素を作ります。|{city}は比較的温暖ですが、雨がよく降ります。|肉じゃがには牛肉、じゃがいも、玉ねぎ、醤油、砂糖が必要です。|さらに詳しく説明することもできます。
pii: {name}と申します。メールアドレスは{email}です。|電話番号は{phone}です。|{address}に送ってください。
echo: name={name}様、ありがとうございます。|email={email}を連絡先として登録しました。|phone={phone}にお電話いたします。|address=配送先を{address}に更新しました。
""",
    "ru": r"""
system.support: Ты ассистент службы поддержки интернет-магазина. Отвечай вежливо и кратко.
system: Ты полезный ассистент. Отвечай по-русски.
greet: Здравствуйте,|Привет!|Добрый день,
ack: Спасибо!|Понятно.|Хорошо, спасибо.
follow: Можно короче?|А если это не сработает?|Есть другой способ?
context: Я уже звонил два раза.|Это довольно срочно.|Заранее спасибо!
opener: Конечно!|С удовольствием.|Спасибо за обращение.
closer: Могу ли я ещё чем-нибудь помочь?|Надеюсь, это поможет.
refusal: Извините, но я не могу помочь с этим.|Как языковая модель ИИ, я не могу выполнить этот запрос.
user.support: Где мой заказ {order}? Он должен был прийти {date}.|Как вернуть повреждённый товар?|С меня дважды списали деньги за заказ {order}.|Можно изменить адрес доставки для заказа {order}?
assistant.support: Приносим извинения за неудобства.|Ваш заказ {order} уже в пути и прибудет примерно {date}.|Оформить возврат можно в личном кабинете.|Возврат {amount} поступит в течение {days} рабочих дней.|Скоро вы получите письмо с подтверждением.
user.travel: Мне нужен билет из {city} в {city2} на {date}.|Можно перенести бронирование {booking} на более поздний рейс?|Сколько багажа можно провезти в экономклассе?
assistant.travel: Я нашёл {count} рейсов, самый дешёвый стоит {amount}.|Изменение возможно за сбор {amount}.|В экономклассе включена ручная кладь до 8 кг.|Забронировать этот тариф на 24 часа?
user.general: Какая обычно погода в {city}?|Подскажи простой рецепт борща.|Объясни простыми словами, как работает фотосинтез.
assistant.general: Хороший вопрос!|Растения превращают воду и углекислый газ в сахар с помощью солнечного света.|В {city} климат довольно мягкий, но часто идут дожди.|Для борща нужны свёкла, капуста, картофель, морковь и лук.|Если нужно, могу рассказать подробнее.
pii: Меня зовут {name}, моя почта {email}.|Мой телефон {phone}.|Пожалуйста, доставьте по адресу {address}.|Мой IBAN {iban}.
echo: name=Спасибо, {name}.|email=Я сохранил {email} как контактный адрес.|phone=Мы перезвоним вам по номеру {phone}.|address=Адрес доставки изменён на {address}.|iban=Возврат будет отправлен на IBAN {iban}.
""",
}
SNIPPETS = [
    ("python", "def {func}(items):\n    seen = set()\n    result = []\n    for item in items:\n        if item not in seen:\n            seen.add(item)\n            result.append(item)\n    return result"),
    ("python", "import csv\n\nwith open('data.csv', newline='') as f:\n    for row in csv.DictReader(f):\n        print(row['id'], row['name'])"),
    ("python", "def {func}(n: int) -> int:\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a"),
    ("javascript", "const {func} = (items) => items.filter((v, i) => items.indexOf(v) === i);"),
    ("sql", "SELECT customer_id, COUNT(*) AS orders\nFROM orders\nWHERE created_at >= '2026-01-01'\nGROUP BY customer_id\nORDER BY orders DESC\nLIMIT 10;"),
    ("bash", "grep -rn 'TODO' src/ | sort | uniq -c | sort -rn | head"),
    ("go", "func {func}(s string) string {{\n\tr := []rune(s)\n\tfor i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {{\n\t\tr[i], r[j] = r[j], r[i]\n\t}}\n\treturn string(r)\n}}"),
]
LISTS = {k: v.split("|") for k, v in (line.split(": ", 1) for line in """
product: wireless headphones|pair of running shoes|coffee grinder|standing desk|winter jacket|yoga mat|phone case|blender|backpack|smart watch|desk lamp|air fryer|gaming mouse|water bottle|electric toothbrush|office chair|Bluetooth speaker|rain jacket
country: Canada|Germany|Japan|Brazil|Australia|Mexico|France|India|Norway|Spain|South Korea|Ireland
size: small|medium|large|size 42|size 9|XL
plang: Python|JavaScript|TypeScript|Go|Rust|Java|Bash|C#
lib: pandas|requests|React|Django|FastAPI|numpy|SQLAlchemy|pytest|Express|tokio|polars
task: read a CSV file|remove duplicates from a list|parse JSON|sort a dictionary by value|make an HTTP request|reverse a string|merge two lists|handle timeouts|write unit tests|connect to PostgreSQL|read a large file|retry failed requests|parse dates
task2: returns the n-th Fibonacci number|checks whether a string is a palindrome|flattens a nested list|counts word frequencies in a text file|validates an email address|reverses a string|removes duplicates but keeps order
error: TypeError: 'NoneType' object is not subscriptable|KeyError: 'id'|ModuleNotFoundError: No module named 'yaml'|IndexError: list index out of range|ReferenceError: x is not defined|segmentation fault (core dumped)|ECONNREFUSED 127.0.0.1:5432|PermissionError: [Errno 13] Permission denied|UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff
pair: a list and a tuple|threads and processes|TCP and UDP|REST and GraphQL|== and is|git merge and git rebase|let and const|a process and a container
func: dedupe|load_config|parse_rows|fetch_user|normalize|reverse|fib|unique
airline: Lufthansa|Delta|Air France|Iberia|KLM|United|Emirates|ANA
nationality: US|Indian|German|Brazilian|Canadian|Chinese
month: January|February|March|April|May|June|July|August|September|October|November|December
course: Python|leadership|public speaking|data analysis|German|project management
science: photosynthesis|vaccines|inflation|black holes|compound interest|the immune system|blockchain|nuclear fusion
event: World War I|the 2008 financial crisis|the French Revolution|the fall of the Roman Empire|the Industrial Revolution
dish: lasagna|banana bread|chicken curry|vegan chili|pancakes|ramen|shakshuka
appliance: dishwasher|heater|washing machine|window|fridge|oven
language: Spanish|Japanese|Italian|German|Korean|Portuguese
shop: ShopNow|Northwind Goods|Acme Outlet|Bluebird Market
agency: TripWise|Skyline Travel|GoVoyage
company: Initech|Globex|Umbrella Corp|Hooli
""".strip().split("\n"))}
FILLERS = ["really", "just", "please", "actually", "also", "maybe", "very"]


def _parse_bank(text: str) -> dict:
    b: dict = {"system": {}, "user": {}, "assistant": {}, "tool_ask": {}, "pii_rare": []}
    for line in text.strip().split("\n"):
        key, _, value = line.partition(": ")
        entries = value.replace("\\n", "\n").split("|")
        if key == "echo":
            b["echo"] = dict(e.split("=", 1) for e in entries)
        elif "." in key or key == "system":
            outer, _, inner = key.partition(".")
            b[outer][inner or "*"] = entries
        else:
            b[key] = entries
    return b


BANKS = {lang: _parse_bank(text) for lang, text in _BANK_TEXT.items()}
DATE_FMT = {"en": "{mon} {d}", "de": "{d:02d}.{m:02d}.", "fr": "{d:02d}/{m:02d}", "es": "{d:02d}/{m:02d}",
            "zh": "{m}月{d}日", "ja": "{m}月{d}日", "ru": "{d:02d}.{m:02d}"}
CURRENCY = {"en": "${:.2f}", "de": "{:.2f} €", "fr": "{:.2f} €", "es": "{:.2f} €", "zh": "{:.0f}元", "ja": "{:.0f}円", "ru": "{:.0f} ₽"}
COMMENTS = ["Very helpful, thanks!", "Wrong order number.", "The answer was cut off.", "Too long.", "Didn't answer my question.",
            "Perfect.", "The code didn't compile.", "Not accurate.", "Good but a bit slow.", "It keeps repeating itself.",
            "Please stop apologizing and just answer.", "Exactly what I needed."]
TOOLS = {
    "support": ("lookup_order", "Look up an order by its id and return status and shipping details.",
                {"order_id": {"type": "string", "description": "Order id, e.g. A-12345"},
                 "email": {"type": "string", "description": "Customer email for verification"}}, ["order_id"]),
    "coding": ("search_docs", "Search the internal developer documentation.",
               {"query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1, "maximum": 20}}, ["query"]),
    "travel": ("search_flights", "Search available flights between two cities on a date.",
               {"origin": {"type": "string"}, "destination": {"type": "string"},
                "date": {"type": "string", "format": "date"}, "passengers": {"type": "integer", "minimum": 1}},
               ["origin", "destination", "date"]),
    "hr": ("get_leave_balance", "Return an employee's remaining leave balance.",
           {"employee_id": {"type": "string"}}, ["employee_id"]),
    "general": ("get_weather", "Get the current weather for a city.",
                {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, ["city"]),
}
TOOL_SPECS = {d: {"type": "function", "function": {"name": n, "description": desc, "parameters": {
    "type": "object", "properties": props, "required": req}}} for d, (n, desc, props, req) in TOOLS.items()}


@lru_cache(maxsize=4)
def _pools(seed: int) -> dict:
    """Fake PII values per language, drawn once per seed (Faker is far too slow per record)."""
    from faker import Faker

    pools = {}
    for k, (lang, locale) in enumerate(LOCALES.items()):
        fk = Faker(locale)
        fk.seed_instance(seed * 1009 + k)
        n = 3000 if lang == "en" else 500
        pools[lang] = {
            "name": [fk.name() for _ in range(n)],
            "email": [fk.email(safe=False) for _ in range(n)],
            "phone": [fk.phone_number() for _ in range(n)],
            "card": [fk.credit_card_number() for _ in range(n)],
            "address": [fk.address().replace("\n", ", ") for _ in range(n)],
            "iban": [fk.iban() for _ in range(n)],
            "ip": [fk.ipv4_public() if i % 5 else fk.ipv6() for i in range(n)],
            "city": [fk.city() for _ in range(max(50, n // 10))],
        }
    return pools


class _Slots(dict):
    """Template slot values for one conversation; unknown keys are drawn on first use so a
    conversation mentions the same order number / city / person throughout."""

    def __init__(self, gen: "_Gen", lang: str):
        super().__init__()
        self.gen, self.lang, self.pii_used = gen, lang, []

    def __missing__(self, key: str) -> str:
        value = self[key] = self.gen.slot(key.rstrip("0123456789"), self)
        return value


class _Gen:
    def __init__(self, seed: int, fmt: str):
        if fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
        self.rng, self.fmt, self.pools = random.Random(seed), fmt, _pools(seed)
        r = self.rng
        self.t = BASE_TS + r.randrange(14 * 86400)
        self.users = ["u_%012x" % r.getrandbits(48) for _ in range(3000)]
        self.seen: set[int] = set()  # digests of the messages of every valid record so far
        self.sources: list[dict] = []  # recent fresh conversations, for duplicates

    # -- slots and text -------------------------------------------------------------------
    def slot(self, base: str, s: _Slots) -> str:
        r, lang = self.rng, s.lang
        if base in PII_KINDS:
            s.pii_used.append(base)
            if base == "apikey":
                return "sk-" + "".join(r.choices(ALNUM, k=40))
            v = r.choice(self.pools[lang][base])
            if base == "card" and r.random() < 0.5:
                v = " ".join(v[i:i + 4] for i in range(0, len(v), 4))
            return v
        if base in LISTS:
            return r.choice(LISTS[base])
        if base == "city":
            return r.choice(self.pools[lang]["city"])
        if base == "date":
            m, d = r.randint(1, 12), r.randint(1, 28)
            return DATE_FMT[lang].format(mon=LISTS["month"][m - 1], m=m, d=d)
        if base == "amount":
            return CURRENCY[lang].format(r.randint(5, 900) + r.randint(0, 99) / 100)
        if base == "order":
            return r.choice(("A-%05d", "#%07d", "ORD-%06d")) % r.randrange(10 ** 5)
        if base in ("booking", "flight"):
            pre = "".join(r.choices("ABCDEFGHJKLMNPQRSTUVWXYZ", k=2))
            return pre + ("%04d" % r.randrange(10000) if base == "booking" else str(r.randint(10, 9999)))
        if base == "code":
            return r.choice(("SAVE", "WELCOME", "SPRING", "VIP", "FREESHIP")) + str(r.randint(5, 50))
        return str(r.randint(2, 12))  # days, count, pax, nights, age, ...

    def _join(self, parts: list[str], lang: str) -> str:
        return ("" if lang in CJK else " ").join(parts)

    def _user(self, b: dict, domain: str, s: _Slots, first: bool, pii: bool, tool: bool) -> str:
        r = self.rng
        parts = []
        if first and r.random() < 0.35:
            parts.append(r.choice(b["greet"]))
        if not first and r.random() < 0.5:
            parts.append(r.choice(b["ack"]))
        if tool:  # a question the tool can answer (other languages: their first question per domain)
            parts.append(r.choice(b["tool_ask"].get(domain) or b["user"][domain][:1]))
        else:
            parts.append(r.choice(b["follow"] if not first and r.random() < 0.35 else b["user"][domain]))
        if r.random() < 0.3:
            parts.append(r.choice(b["context"]))
        if pii:
            rare = b["pii_rare"] and r.random() < (0.25 if domain == "coding" else 0.02)
            parts.insert(r.randrange(len(parts) + 1), r.choice(b["pii_rare"] if rare else b["pii"]))
        text = self._join(parts, s.lang).format_map(s)
        if s.lang == "en" and r.random() < 0.08:
            text = text.lower().rstrip("?.!")
        return text

    def _sentences(self, b: dict, domain: str, k: int) -> list[str]:
        bank = b["assistant"][domain]
        return self.rng.sample(bank, k) if k <= len(bank) else self.rng.choices(bank, k=k)

    def _answer(self, b: dict, domain: str, s: _Slots, special: str | None, echo: bool) -> tuple[str, list[str]]:
        """Return (answer text, its sentences before joining)."""
        r = self.rng
        if special == "refusal":
            return r.choice(b["refusal"]), []
        if special == "repetitive":
            sent = r.choice(b["assistant"][domain]).format_map(s)
            return self._join([sent] * r.randint(15, 60), s.lang), [sent]
        k = r.randint(30, 90) if special == "long" else r.choices((1, 2, 3, 4, 5, 6, 8), (15, 25, 25, 15, 10, 6, 4))[0]
        sents = [t.format_map(s) for t in self._sentences(b, domain, k)]
        if echo and s.pii_used:
            sents.insert(0, b["echo"].get(s.pii_used[-1], b["echo"]["name"]).format_map(s))
        if r.random() < 0.4:
            sents.insert(0, r.choice(b["opener"]))
        if r.random() < 0.35:
            sents.append(r.choice(b["closer"]))
        if domain == "coding" and r.random() < 0.45:
            lang_tag, code = r.choice(SNIPPETS)
            sents.insert(min(2, len(sents)), f"Here's an example:\n\n```{lang_tag}\n{code.format_map(s)}\n```\n")
        if len(sents) > 4 and s.lang not in CJK:  # paragraphs
            step = r.randint(2, 5)
            text = "\n\n".join(" ".join(sents[i:i + step]) for i in range(0, len(sents), step))
        else:
            text = self._join(sents, s.lang)
        if special == "truncated":
            cut = r.randint(len(text) // 3, max(len(text) * 9 // 10, len(text) // 3 + 1))
            text = text[:cut]
            if s.lang not in CJK and " " in text[len(text) // 2:]:
                text = text[:text.rindex(" ")]
            text = text.rstrip(" \n.!?。！？")
        return text, sents

    # -- conversations --------------------------------------------------------------------
    def _tool_flow(self, domain: str, s: _Slots, pii: bool) -> tuple[dict, dict, dict]:
        r = self.rng
        name = TOOLS[domain][0]
        if domain == "support":
            args = {"order_id": s["order"], **({"email": s["email"]} if pii else {})}
            res = {"order_id": s["order"], "status": r.choice(("processing", "shipped", "in_transit", "delivered")),
                   "carrier": r.choice(("DHL", "UPS", "FedEx", "La Poste")), "eta": s["date"], "total": s["amount"]}
            if pii:
                res.update(customer=s["name"], shipping_address=s["address"])
        elif domain == "travel":
            args = {"origin": s["city"], "destination": s["city2"], "date": "2026-%02d-%02d" % (r.randint(3, 12), r.randint(1, 28)),
                    "passengers": int(s["pax"])}
            res = {"flights": [{"flight": self.slot("flight", s), "depart": "%02d:%02d" % (r.randint(5, 22), r.choice((0, 15, 30, 45))),
                                "price": self.slot("amount", s)} for _ in range(r.randint(1, 3))]}
        elif domain == "hr":
            args = {"employee_id": "E%06d" % r.randrange(10 ** 6)}
            res = {"employee_id": args["employee_id"], "vacation_days_left": r.randint(0, 30), "sick_days_used": r.randint(0, 10)}
            if pii:
                res["name"] = s["name"]
        elif domain == "coding":
            args = {"query": s["task"], "limit": 3}
            res = {"results": [{"title": f"How to {s['task']}", "url": f"https://docs.internal/{s['func']}"}]}
        else:
            args = {"city": s["city"], "unit": "celsius"}
            res = {"city": s["city"], "temperature": r.randint(-5, 35), "condition": r.choice(("sunny", "cloudy", "rain", "snow"))}
        cid = "call_" + "".join(r.choices(ALNUM, k=24))
        call = {"role": "assistant", "content": None, "tool_calls": [{"id": cid, "type": "function",
                "function": {"name": name, "arguments": orjson.dumps(args).decode()}}]}
        return call, {"role": "tool", "tool_call_id": cid, "content": orjson.dumps(res).decode()}, TOOL_SPECS[domain]

    def _fresh(self) -> dict:
        r = self.rng
        lang = r.choices(list(LANG_WEIGHTS), list(LANG_WEIGHTS.values()))[0]
        dw = EN_DOMAINS if lang == "en" else INTL_DOMAINS
        domain = r.choices(list(dw), list(dw.values()))[0]
        b, s = BANKS[lang], _Slots(self, lang)
        n_ex = r.choices((1, 2, 3, 4), (55, 25, 12, 8))[0]
        pii = r.random() < 0.40
        pii_ex = r.randrange(n_ex) if pii else -1
        tool_ex = r.randrange(n_ex) if r.random() < 0.10 else -1
        x = r.random()
        special = (None if x >= 0.10 else "refusal" if x < 0.03 else "truncated" if x < 0.05 else "empty" if x < 0.06
                   else "long" if x < 0.065 else "repetitive" if x < 0.07 else None)
        flags = {"pii": pii, "tool": tool_ex >= 0, "special": special}
        msgs, tools, final_sents = [], None, []
        if r.random() < 0.70:
            msgs.append({"role": "system", "content": r.choice(b["system"].get(domain) or b["system"]["*"]).format_map(s)})
        for k in range(n_ex):
            last = k == n_ex - 1
            msgs.append({"role": "user", "content": self._user(b, domain, s, k == 0, k == pii_ex, k == tool_ex)})
            if k == tool_ex:
                call, result, spec = self._tool_flow(domain, s, pii)
                tools = [spec] + ([TOOL_SPECS["general"]] if domain != "general" and r.random() < 0.3 else [])
                msgs.append(call)
                if self.fmt == "request-response" and last and r.random() < 0.4:
                    flags["special"] = "tool_end"
                    break
                msgs.append(result)
            sp = special if last else None
            text, final_sents = ("", []) if sp == "empty" else self._answer(b, domain, s, sp, k == pii_ex and r.random() < 0.4)
            msgs.append({"role": "assistant", "content": text})
        return {"msgs": msgs, "tools": tools, "lang": lang, "domain": domain, "slots": s,
                "flags": flags, "sents": final_sents}

    def _perturb(self, text: str, cjk: bool) -> str:
        """One small edit: typo, word inserted/removed, punctuation/case change, last sentence dropped."""
        r = self.rng
        op = r.randrange(5)
        if cjk:
            if op == 4 and "。" in text.rstrip("。"):
                return text.rstrip("。").rsplit("。", 1)[0] + "。"
            i = r.randrange(len(text))
            return (text[:i] + text[i + 1:]) if op < 2 else (text[:i] + r.choice("，啊的") + text[i:]) if op < 4 else text + "！"
        words = text.split(" ")
        if op == 0:
            idx = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
            if idx:
                i = r.choice(idx)
                w, j = words[i], r.randrange(len(words[i]) - 1)
                words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
        elif op == 1:
            words.insert(r.randrange(1, len(words) + 1), r.choice(FILLERS))
        elif op == 2 and len(words) > 3:
            del words[r.randrange(len(words))]
        elif op == 3:
            t = " ".join(words)
            if r.random() < 0.5 and t[:1].isalpha():
                return t[0].swapcase() + t[1:]
            return t[:-1] + r.choice(("!", "", "..")) if t[-1:] in ".?!" else t + "."
        elif op == 4:
            ends = [m.end() for m in re.finditer(r"[.!?](?=\s)", text)]
            if ends:
                return text[:ends[-1]]
        return " ".join(words)

    def _near(self, src: dict) -> dict | None:
        r = self.rng
        cands = [i for i, m in enumerate(src["msgs"]) if m["role"] in ("user", "assistant") and m["content"]]
        for _ in range(8):
            i = r.choice(cands)
            new = self._perturb(src["msgs"][i]["content"], src["lang"] in CJK)
            if new and new != src["msgs"][i]["content"]:
                msgs = list(src["msgs"])
                msgs[i] = {**msgs[i], "content": new}
                key = _digest(msgs)
                if key not in self.seen:
                    self.seen.add(key)
                    return {**src, "msgs": msgs}
        return None

    def next_conversation(self) -> tuple[dict, str | None]:
        r = self.rng
        x = r.random()
        if self.sources and x < 0.06:
            src = r.choice(self.sources)
            if x < 0.03:
                return src, "exact"
            near = self._near(src)
            if near is not None:
                return near, "near"
        while True:
            c = self._fresh()
            key = _digest(c["msgs"])
            if key not in self.seen:
                self.seen.add(key)
                if len(self.sources) < 5000:
                    self.sources.append(c)
                else:
                    self.sources[r.randrange(5000)] = c
                return c, None

    # -- records --------------------------------------------------------------------------
    def feedback(self, c: dict) -> dict | None:
        r = self.rng
        if r.random() >= 0.30:
            return None
        s, b, special = c["slots"], BANKS[c["lang"]], c["flags"]["special"]
        bad = special in ("refusal", "truncated", "empty", "repetitive")
        thumb = r.choices(("up", "down", None), (5, 70, 25) if bad else (60, 20, 20))[0]
        rating = None
        if r.random() < 0.45:
            rating = r.randint(4, 5) if thumb == "up" else r.randint(1, 2) if thumb == "down" else r.randint(1, 5)
        edited = None
        if r.random() < (0.4 if thumb == "down" else 0.1):
            sents = list(c["sents"])
            if bad or len(sents) < 2:
                sents = [t.format_map(s) for t in self._sentences(b, c["domain"], r.randint(2, 4))]
            else:
                sents[r.randrange(len(sents))] = r.choice(b["assistant"][c["domain"]]).format_map(s)
            if c["flags"]["pii"] and s.pii_used and r.random() < 0.3:
                sents.append(b["echo"].get(s.pii_used[0], b["echo"]["name"]).format_map(s))
            edited = self._join(sents, c["lang"])
        comment = None
        if r.random() < (0.5 if thumb == "down" else 0.2):
            comment = r.choice(COMMENTS)
            if c["flags"]["pii"] and r.random() < 0.25:
                comment += r.choice((" You can reach me at {email}.", " Call me: {phone}.", " - {name}")).format_map(s)
        return {"thumb": thumb, "rating": rating, "edited": edited, "comment": comment}

    def record(self, i: int, c: dict, fb: dict | None) -> dict:
        r = self.rng
        alias, model = r.choices(MODELS, MODEL_WEIGHTS)[0]
        latency = int(r.lognormvariate(6.5, 0.6)) * (4 if c["flags"]["special"] == "long" else 1)
        ts = self.t - (r.randint(1, 120) if r.random() < 0.05 else 0)  # increasing-ish
        user, app = r.choice(self.users), APPS[c["domain"]]
        msgs, tools = c["msgs"], c["tools"]
        if self.fmt == "chat":
            rec = {"id": "conv_%010d" % i, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)),
                   "model": model, "messages": msgs}
            if tools:
                rec["tools"] = tools
            if fb is not None:
                rec["feedback"] = fb
            rec["metadata"] = {"user_id": user, "app": app, "session_id": "sess_%016x" % r.getrandbits(64),
                               "latency_ms": latency, "region": r.choice(REGIONS)}
            return rec
        final, prompt = msgs[-1], msgs[:-1]
        special = c["flags"]["special"]
        finish = "tool_calls" if final.get("tool_calls") else "length" if special == "truncated" else "stop"
        p_tok = sum(len(m["content"] or "") for m in prompt) // 4 + 4 * len(prompt) + 3
        c_tok = len(final["content"] or "") // 4 + (20 if finish == "tool_calls" else 1)
        req = {"model": alias, "messages": prompt}
        if tools:
            req["tools"] = tools
        req["temperature"] = r.choice((0.0, 0.2, 0.7, 0.7, 1.0))
        if finish == "length" or r.random() < 0.2:
            req["max_tokens"] = c_tok if finish == "length" else r.choice((256, 512, 1024, 4096))
        rec = {"request_id": "req_%024x" % r.getrandbits(96),
               "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".%03dZ" % r.randrange(1000),
               "latency_ms": latency, "request": req,
               "response": {"id": "chatcmpl-" + "".join(r.choices(ALNUM, k=29)), "object": "chat.completion",
                            "created": ts + max(1, latency // 1000), "model": model,
                            "choices": [{"index": 0, "message": final, "finish_reason": finish}],
                            "usage": {"prompt_tokens": p_tok, "completion_tokens": c_tok, "total_tokens": p_tok + c_tok}}}
        if fb is not None:
            rec["feedback"] = fb
        rec["metadata"] = {"user_id": user, "app": app}
        return rec

    def malformed(self, i: int, kind: str) -> bytes:
        r = self.rng
        if kind == "blank_line":
            return b""
        c = self._fresh()
        c["msgs"] = msgs = [dict(m) for m in c["msgs"]]
        chat = self.fmt == "chat"
        rec = self.record(i, c, self.feedback(c))
        holder = rec if chat else rec["request"]
        users = [m for m in msgs if m["role"] == "user"]
        if kind == "not_object":
            return r.choice((b"[1, 2, 3]", b"42", b'"hello"', b"null", orjson.dumps([rec])))
        if kind == "bad_json":
            text = orjson.dumps(rec).decode()
            if r.random() < 0.6:
                return text[:r.randint(len(text) // 4, len(text) - 2)].encode()
            return (text + r.choice(("}", " garbage", ',"extra":', "{}", "\\"))).encode()
        if kind == "wrong_type":
            if r.random() < 0.5:
                holder["messages"] = "\n".join(f"{m['role']}: {m['content']}" for m in msgs)
            else:
                r.choice(users)["content"] = r.choice((42, 3.14, 0, -1))
        elif kind == "unknown_role":
            msgs.insert(r.randrange(len(msgs)), {"role": r.choice(("bot", "human", "model")), "content": "Hello! How can I help?"})
            holder["messages"] = msgs if chat else msgs[:-1]
        elif kind == "missing_role":
            del r.choice(users)["role"]
        elif kind == "empty_messages":
            holder["messages"] = []
        elif kind == "no_assistant":
            holder["messages"] = [m for m in msgs if m["role"] in ("system", "user")]
            if not chat:
                rec["response"]["choices"] = []
        elif kind == "invalid_utf8":
            users[0]["content"] += " \x00BAD\x00"
            return orjson.dumps(rec).replace(b"\\u0000BAD\\u0000", r.choice((b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x80abc")))
        elif kind == "oversized":
            log = "\n".join("2026-03-01T12:00:%02dZ INFO worker-%d processed batch %d in %d ms" % (j % 60, j % 8, j, j % 997)
                            for j in range(45_000))
            users[0]["content"] += "\n\nHere is the full log:\n" + log
        line = orjson.dumps(rec)
        assert kind != "oversized" or len(line) > OVERSIZED_BYTES
        return line


def _digest(msgs: list) -> int:
    return int.from_bytes(hashlib.blake2b(orjson.dumps(msgs), digest_size=8).digest(), "little")


def _plan(n: int, seed: int, malformed_rate: float, clean: bool) -> dict[int, str]:
    """Line index -> malformed kind, spread uniformly through the file."""
    if clean or malformed_rate <= 0 or n <= 0:
        return {}
    r = random.Random(seed * 7_777_777 + 12_345)
    kinds = [k for k in MALFORMED_KINDS if k != "oversized"]
    n_over = 0 if n < 1000 else 1 if n < 100_000 else 2
    k = round(n * malformed_rate)
    assigned = ["oversized"] * n_over
    if n >= 200:
        assigned += kinds
    k = min(n, max(k, len(assigned)))
    assigned += [r.choice(kinds) for _ in range(k - len(assigned))]
    r.shuffle(assigned)
    return dict(zip(sorted(r.sample(range(n), k)), assigned))


def _generate(n: int, seed: int, fmt: str, malformed_rate: float, clean: bool) -> Iterator[tuple[bytes, str | None, tuple]]:
    """Yield (line, malformed kind or None, (conversation, feedback, duplicate kind) for valid lines)."""
    gen, plan = _Gen(seed, fmt), _plan(n, seed, malformed_rate, clean)
    for i in range(n):
        gen.t += gen.rng.randint(0, 20)
        kind = plan.get(i)
        if kind is not None:
            yield gen.malformed(i, kind), kind, ()
            continue
        c, dup = gen.next_conversation()
        fb = gen.feedback(c)
        yield orjson.dumps(gen.record(i, c, fb)), None, (c, fb, dup)


def generate_lines(n: int, seed: int = 0, fmt: str = "chat", malformed_rate: float = 0.01,
                   clean: bool = False) -> Iterator[bytes]:
    """Yield `n` log lines (bytes, without the trailing newline)."""
    for line, _, _ in _generate(n, seed, fmt, malformed_rate, clean):
        yield line


def _open(path: str):
    fh = open(path, "wb")
    if str(path).endswith(".gz"):
        return gzip.GzipFile(filename="", mode="wb", fileobj=fh, compresslevel=6, mtime=0), fh
    if str(path).endswith(".zst"):
        import zstandard

        return zstandard.ZstdCompressor(level=3).stream_writer(fh, closefd=False), fh
    return fh, fh


def write(path, n: int, seed: int = 0, fmt: str = "chat", malformed_rate: float = 0.01, clean: bool = False) -> dict:
    """Write `n` lines to `path` (.gz/.zst compress) and return counts. All counts except
    "lines" and "malformed" are over valid lines; "pii", "tool_calls", "refusals", "truncated",
    "empty_answers" and "languages" are what was planted (extras beyond the documented keys)."""
    counts = {"lines": 0, "malformed": dict.fromkeys(MALFORMED_KINDS, 0), "valid": 0, "thumbs_up": 0, "thumbs_down": 0,
              "edits": 0, "ratings": 0, "exact_duplicates": 0, "near_duplicates": 0, "pii": 0, "tool_calls": 0,
              "refusals": 0, "truncated": 0, "empty_answers": 0, "languages": {}}
    special_key = {"refusal": "refusals", "truncated": "truncated", "empty": "empty_answers"}
    out, raw = _open(str(path))
    buf = []
    try:
        for line, kind, info in _generate(n, seed, fmt, malformed_rate, clean):
            counts["lines"] += 1
            buf.append(line)
            if len(buf) >= 2000:
                out.write(b"\n".join(buf) + b"\n")
                buf.clear()
            if kind is not None:
                counts["malformed"][kind] += 1
                continue
            c, fb, dup = info
            counts["valid"] += 1
            if fb is not None:
                counts["thumbs_up"] += fb["thumb"] == "up"
                counts["thumbs_down"] += fb["thumb"] == "down"
                counts["edits"] += fb["edited"] is not None
                counts["ratings"] += fb["rating"] is not None
            if dup:
                counts[dup + "_duplicates"] += 1
            flags = c["flags"]
            counts["pii"] += flags["pii"]
            counts["tool_calls"] += flags["tool"]
            if flags["special"] in special_key:
                counts[special_key[flags["special"]]] += 1
            counts["languages"][c["lang"]] = counts["languages"].get(c["lang"], 0) + 1
        if buf:
            out.write(b"\n".join(buf) + b"\n")
    finally:
        out.close()
        if raw is not out:
            raw.close()
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="number of lines (including malformed ones)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="output path; .gz / .zst suffix compresses")
    ap.add_argument("--format", dest="fmt", choices=FORMATS, default="chat")
    ap.add_argument("--malformed-rate", type=float, default=0.01)
    ap.add_argument("--clean", action="store_true", help="no malformed or oversized lines")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    counts = write(a.out, a.n, a.seed, a.fmt, a.malformed_rate, a.clean)
    dt = time.perf_counter() - t0
    print(orjson.dumps(counts).decode(), file=sys.stderr)
    print(f"wrote {a.n} lines to {a.out} in {dt:.1f}s ({a.n / max(dt, 1e-9):,.0f} lines/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
