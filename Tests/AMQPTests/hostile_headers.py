"""Publishes, as a hostile publisher would, a message whose headers nest arrays LEVELS deep
(five bytes a level: 20,000 levels fill most of a 128 KiB frame), then an honest message.

usage: hostile_headers.py AMQP_URL QUEUE LEVELS
"""
import sys

import pika

url, queue, levels = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.setrecursionlimit(levels * 4 + 1000)  # pika encodes nested values recursively
value = 7
for _ in range(levels):
    value = [value]
connection = pika.BlockingConnection(pika.URLParameters(url))
channel = connection.channel()
channel.confirm_delivery()
channel.basic_publish(
    "", queue, b'{"deep": true}', pika.BasicProperties(message_id="deep", headers={"d": value, "plain": "kept"}))
channel.basic_publish("", queue, b'{"deep": false}', pika.BasicProperties(message_id="honest"))
connection.close()
print("published")
