"""Writes the synthetic CSV files the tests use (run once; the CSVs are committed).

birds.csv: classification with categories, booleans, gaps and awkward column names.
houses.csv: regression with the same kinds of trouble.
reviews.csv: sentiment from free text, with a category and a number beside it.
customers.csv: an id, an e-mail and a name (identifiers: never published), a date, churn.
"""

import csv
import random
from pathlib import Path

HERE = Path(__file__).parent


def birds(rng):
    species = {
        "Adelie": (38.8, 18.3, 190, 3700),
        "Chinstrap": (48.8, 18.4, 196, 3730),
        "Gentoo": (47.5, 15.0, 217, 5080),
    }
    islands = {
        "Adelie": ["Biscoe", "Dream", "Torgersen"],
        "Chinstrap": ["Dream"],
        "Gentoo": ["Biscoe"],
    }
    header = [
        "Island",
        "Bill length (mm)",
        "bill depth mm",
        "Flipper length (mm)",
        "Body mass (g)",
        "sex",
        "Ringed?",
        "2nd Größe €",
        "species",
    ]
    rows = []
    for index in range(240):
        name = list(species)[index % 3]
        bill, depth, flipper, mass = species[name]
        row = [
            rng.choice(islands[name]),
            round(rng.gauss(bill, 2.5), 1),
            round(rng.gauss(depth, 1.0), 1),
            int(rng.gauss(flipper, 6)),
            int(rng.gauss(mass, 350)),
            rng.choice(["male", "female"]),
            rng.choice(["yes", "no"]),
            round(rng.uniform(0, 1), 3),
            name,
        ]
        for column in (1, 4, 5):  # gaps are normal in real data
            if rng.random() < 0.05:
                row[column] = ""
        rows.append(row)
    return header, rows


def houses(rng):
    header = ["Floor area (m²)", "Rooms", "Neighbourhood", "Has garden", "Year built", "Price (€)"]
    rows = []
    areas = {"Old Town": 5200, "Harbour": 4300, "Hillside": 3600, "Ring Road": 2900}
    for _ in range(300):
        area = round(rng.uniform(35, 180), 1)
        rooms = max(1, int(area / 30 + rng.gauss(0, 0.7)))
        place = rng.choice(list(areas))
        garden = rng.random() < 0.4
        year = rng.randint(1890, 2023)
        price = area * areas[place] + (15000 if garden else 0) + (year - 1950) * 300
        row = [area, rooms, place, str(garden).lower(), year, round(price + rng.gauss(0, 20000))]
        if rng.random() < 0.05:
            row[0] = ""
        if rng.random() < 0.05:
            row[2] = ""
        rows.append(row)
    return header, rows


def reviews(rng):
    good = ["great", "lovely", "excellent", "friendly", "fast", "tasty", "clean", "perfect"]
    bad = ["awful", "slow", "rude", "cold", "dirty", "broken", "bland", "late"]
    things = ["the food", "the staff", "our room", "the delivery", "the coffee", "the service"]
    fillers = ["really", "quite", "very", "so", "honestly", "a bit"]
    header = ["Review", "Channel", "Stars given before", "sentiment"]
    rows = []
    for index in range(240):
        positive = index % 2 == 0
        words = good if positive else bad
        sentences = [
            f"{rng.choice(things).capitalize()} was {rng.choice(fillers)} {rng.choice(words)}"
            for _ in range(rng.randint(1, 3))
        ]
        if rng.random() < 0.2:  # some noise: a word from the other side
            sentences.append(
                f"but {rng.choice(things)} was {rng.choice(bad if positive else good)}"
            )
        text = ", ".join(sentences) + rng.choice([".", "!", "..."])
        stars = max(1, min(5, round(rng.gauss(4 if positive else 2, 1))))
        rows.append(
            [
                text,
                rng.choice(["web", "app", "phone"]),
                stars,
                "positive" if positive else "negative",
            ]
        )
    return header, rows


def customers(rng):
    first = ["Ana", "Ben", "Chloé", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea"]
    last = ["Ng", "Smith", "Okafor", "Berg", "Rossi", "Kim", "Dubois", "Silva", "Novak", "Sato"]
    header = ["Customer ID", "E-mail", "Name", "Signup date", "Plan", "Monthly spend", "churned"]
    rows = []
    for index in range(300):
        plan = rng.choice(["basic", "plus", "pro"])
        spend = round(rng.uniform(5, 120), 2)
        year, month, day = rng.randint(2019, 2024), rng.randint(1, 12), rng.randint(1, 28)
        churn = (spend < 30) + (plan == "basic") + (year >= 2023) + rng.random() > 1.6
        name = f"{rng.choice(first)} {rng.choice(last)}"
        email = f"{name.split()[0].lower()}.{name.split()[1].lower()}{index}@example.org"
        date = f"{year}-{month:02d}-{day:02d}"
        rows.append([1000 + index, email, name, date, plan, spend, "yes" if churn else "no"])
    return header, rows


def write(name, header, rows):
    with open(HERE / name, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)


if __name__ == "__main__":
    write("birds.csv", *birds(random.Random(1)))
    write("houses.csv", *houses(random.Random(2)))
    write("reviews.csv", *reviews(random.Random(3)))
    write("customers.csv", *customers(random.Random(4)))
