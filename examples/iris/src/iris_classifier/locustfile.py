"""The traffic of `make load`: locust users that post to /predict, one request after another.

load.py makes the requests from the model's schema, writes them to a JSON file and runs
locust with this file: `python -m <package>.load` (see there). Each request kind has a
name in the report, and the answer it must get; any other answer is an error.
"""

import json
import os
import random

from locust import FastHttpUser, constant, task

with open(os.environ["LOAD_REQUESTS"], encoding="utf-8") as file:
    REQUESTS = json.load(file)  # {kind: [request bodies, already encoded]}

JSON = {"Content-Type": "application/json"}
CSV = {"Content-Type": "text/csv"}


class Client(FastHttpUser):
    """One client: sends a request, waits for the answer, and sends the next at once."""

    wait_time = constant(0)

    @task(20)
    def one_row(self):
        self.post("one row (JSON)", JSON, 200)

    @task(3)
    def list_of_rows(self):
        self.post("list of rows (JSON)", JSON, 200)

    @task(1)
    def csv_file(self):
        self.post("CSV file", CSV, 200)

    @task(2)
    def invalid_row(self):
        self.post("invalid row (400 expected)", JSON, 400)

    def post(self, kind, headers, expected):
        body = random.choice(REQUESTS[kind])
        with self.client.post(
            "/predict", data=body, headers=headers, name=kind, catch_response=True
        ) as response:
            if response.status_code == expected:
                response.success()
            elif response.status_code == 0:  # no answer at all: refused, reset, timed out
                response.failure(f"connection error: {response.error}")
            else:
                answer = (response.text or "").strip()[:200]
                response.failure(f"expected {expected}, got {response.status_code}: {answer}")
