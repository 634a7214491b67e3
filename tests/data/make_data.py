"""Writes the synthetic CSV files the tests use (run once; the CSVs are committed).

birds.csv: classification with categories, booleans, gaps and awkward column names.
houses.csv: regression with the same kinds of trouble.
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


def write(name, header, rows):
    with open(HERE / name, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)


if __name__ == "__main__":
    write("birds.csv", *birds(random.Random(1)))
    write("houses.csv", *houses(random.Random(2)))
