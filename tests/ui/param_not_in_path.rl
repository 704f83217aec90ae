input key
POST /v1/intents/{intent} | /v1/intents by key&intent: 1000/1h
