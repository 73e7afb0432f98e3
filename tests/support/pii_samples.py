"""PII values the log-scrubbing and telemetry-sweep tests plant and then search for."""

from __future__ import annotations

EMAIL = "marisol.quintero@fastmail.com"
PHONE = "+44 20 7946 0018"
CARD = "4539 1488 0343 6467"
IBAN = "DE89 3704 0044 0532 0130 00"
SSN = "536-90-4399"
IP = "81.2.69.160"
SECRET = "sk-proj-Q7vX2kLm9Pz4Rt8Wy3Nb6Hc1"
RAW = (EMAIL, PHONE, CARD, IBAN, SSN, IP, SECRET)
