# Never calls plugin.run(): the handshake never comes.
import time

while True:
    time.sleep(1)
