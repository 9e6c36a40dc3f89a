#!/usr/bin/env python3
"""Publishes one registration.submitted (version 2) event the way an agency system should:
to the topic exchange kaltim.events, routing key = event type, persistent, with the envelope
id as message_id, the contract version in the x-contract-version header, mandatory, and with
publisher confirms. Prints the message id on success; exits 1 when the broker nacks or returns
the message.

    python3 publish_registration.py AMQP_URL [ROUTING_KEY]

The programme's broker takes AMQP over TLS only: amqps://USER:PASSWORD@HOST:5671/%2f, with the
programme's CA certificate in KALTIM_CA_FILE (the broker's certificate is checked against it).

Needs: pip install pika"""
import datetime
import json
import os
import ssl
import sys
import uuid

import pika


def envelope(registration_id):
    event_id = str(uuid.uuid4())
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/kaltim/registration-portal",
        "type": "registration.submitted",
        "dataversion": 2,
        "time": now.isoformat().replace("+00:00", "Z"),
        "subject": registration_id,
        "datacontenttype": "application/json",
        "correlationid": event_id,
        "data": {
            "registrationID": registration_id,
            "nik": "6471054107990003",  # synthetic
            "familyCardNumber": "6471050101150004",
            "fullName": "Siti Rahmawati",
            "birthPlace": "Balikpapan",
            "birthDate": "1999-07-01",
            "sex": "P",
            "phone": "+6281250001001",
            "whatsApp": None,
            "email": None,
            "domicile": {"regionCode": "6471051001", "address": "Jl. Contoh No. 1, Gunung Samarinda"},
            "education": "SMK",
            "employmentStatus": "BELUM_BEKERJA",
            "jobSeekerCardNumber": None,
            "preferredCentre": "BLKI_BALIKPAPAN",
            "programme": "MEKANIK_SEPEDA_MOTOR",
            "secondChoiceProgramme": None,
            "apprenticeshipInterest": True,
            "declaredTrainings": [],
            "consent": {"given": True, "givenAt": now.isoformat().replace("+00:00", "Z"), "textVersion": "pdp-2025-01"},
        },
    }


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 64
    url, routing_key = argv[1], argv[2] if len(argv) == 3 else "registration.submitted"
    message = envelope("REG-2025-" + uuid.uuid4().hex[:6].upper())
    parameters = pika.URLParameters(url)
    if url.startswith("amqps://"):
        context = ssl.create_default_context(cafile=os.environ.get("KALTIM_CA_FILE"))
        parameters.ssl_options = pika.SSLOptions(context, parameters.host)
    connection = pika.BlockingConnection(parameters)
    channel = connection.channel()
    channel.confirm_delivery()  # publisher confirms: basic_publish raises on nack or return
    properties = pika.BasicProperties(
        content_type="application/json",
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=message["id"],
        correlation_id=message["correlationid"],
        type=message["type"],
        app_id="registration-portal",
        # Required: the broker checks it is this connection's user, and consumers check that user
        # may publish the type.
        user_id=parameters.credentials.username,
        timestamp=int(datetime.datetime.now(datetime.timezone.utc).timestamp()),
        headers={"x-contract-version": message["dataversion"]},
    )
    try:
        channel.basic_publish(
            exchange="kaltim.events",
            routing_key=routing_key,
            body=json.dumps(message).encode("utf-8"),
            properties=properties,
            mandatory=True,
        )
    except pika.exceptions.UnroutableError:
        print("returned: no queue is bound to routing key " + routing_key, file=sys.stderr)
        return 1
    except pika.exceptions.NackError:
        print("nacked: the broker did not store the message; publish it again", file=sys.stderr)
        return 1
    finally:
        connection.close()
    print(message["id"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
