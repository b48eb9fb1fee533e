"""CSV files of clients to import, as other systems export them: `clients_csv` writes any
number of plausible rows (valid names, addresses, states and phone numbers of a few countries)
with the headers of Add Client, streaming, so a 100,000-row file costs no memory. Used by the
import tests and by bench/import_clients.py."""

from __future__ import annotations

import csv
import random
from pathlib import Path

HEADER = [
    "First Name",
    "Last Name",
    "Company/Org.",
    "Address 1",
    "City",
    "Country",
    "State/Province",
    "Zip/Postal Code",
    "Email",
    "Phone",
    "Opt-in to marketing emails",
]
FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Linus", "Anna"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Müller"]
# (country, state, city, zip, a valid phone number without its last two digits)
PLACES = [
    ("DE", "DE-BE", "Berlin", "10115", "+49 30 123456"),
    ("DE", "DE-BY", "München", "80331", "+49 89 123456"),
    ("US", "US-CA", "San Francisco", "94105", "+1 415 555 01"),
    ("GB", "", "London", "SW1A 1AA", "+44 20 7946 09"),
    ("FR", "", "Paris", "75001", "+33 1 42 68 53"),
]


def clients_csv(path: Path, rows: int, seed: int = 1, start: int = 0) -> Path:
    """Writes `rows` clients (emails client{n}@example.com from `start`) to `path`."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for number in range(start, start + rows):
            country, state, city, zip_code, phone = rng.choice(PLACES)
            writer.writerow(
                [
                    rng.choice(FIRST_NAMES),
                    rng.choice(LAST_NAMES),
                    f"Company {number}" if number % 3 else "",
                    f"{rng.randint(1, 200)} Main Street",
                    city,
                    country,
                    state,
                    zip_code,
                    f"client{number}@example.com",
                    f"{phone}{rng.randint(10, 99)}",
                    "yes" if number % 4 == 0 else "no",
                ]
            )
    return path
