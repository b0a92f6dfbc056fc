"""Texts for the filter benchmarks and the perplexity calibration (written for this purpose; seeded).

``FLUENT``: 30 hand-written instruction/answer pairs. From them, with a seeded ``random.Random``:
repetitive answers (a word or a phrase looped), word salad (the answer's words shuffled), gibberish
(random letter strings shaped like words), off-topic (another pair's answer) and realistic ~150-token
records for throughput runs.
"""

from __future__ import annotations

import random
import string

FLUENT = [
    ("Explain how plants make their food.", "Plants make their food through photosynthesis. Their leaves absorb sunlight, take in carbon dioxide from the air and water from the soil, and turn them into glucose. Oxygen is released as a by-product."),
    ("Why is the sky blue?", "Sunlight contains all colors. As it passes through the atmosphere, the short blue wavelengths are scattered by gas molecules much more than red ones, so blue light reaches our eyes from every direction of the sky."),
    ("Give three tips for staying healthy.", "Eat a balanced diet with plenty of vegetables, get regular exercise such as a brisk daily walk, and sleep seven to nine hours a night."),
    ("What is the capital of Japan?", "The capital of Japan is Tokyo, which is also the country's largest city and its political and economic center."),
    ("Describe the water cycle in simple terms.", "Water evaporates from oceans and lakes, rises as vapor, cools into clouds and falls back as rain or snow. It then flows into rivers and seas, and the cycle starts again."),
    ("Summarize the causes of the First World War.", "Historians point to militarism, rival alliances, imperial competition and nationalism. The assassination of Archduke Franz Ferdinand in 1914 set these tensions off."),
    ("How do vaccines work?", "A vaccine shows the immune system a harmless piece or weakened form of a germ. The body learns to recognize it and makes antibodies, so it can respond quickly if the real germ appears later."),
    ("Write a short thank-you note to a colleague.", "Dear Sam, thank you for helping me finish the report last week. Your careful review caught several mistakes, and I really appreciate the time you gave. Best wishes, Alex."),
    ("What is the difference between weather and climate?", "Weather describes conditions over hours or days, such as a rainy afternoon. Climate is the average pattern of weather in a region over many years."),
    ("Explain what a prime number is.", "A prime number is a whole number greater than one that can only be divided evenly by one and itself. Examples are two, three, five, seven and eleven."),
    ("Suggest a name for a bakery.", "A friendly name could be The Morning Crumb. It is short, easy to remember and suggests fresh bread in the early morning."),
    ("Convert 5 kilometers to miles.", "Five kilometers is about 3.11 miles, because one kilometer is roughly 0.621 miles."),
    ("Explain why exercise improves mood.", "Exercise releases endorphins and other chemicals that reduce stress and pain. It also improves sleep and gives a sense of achievement, which together lift mood."),
    ("List the planets of the solar system in order.", "Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus and Neptune, ordered from the closest to the Sun to the farthest."),
    ("How does a bicycle stay upright?", "A moving bicycle stays upright mainly because the rider steers into any lean, moving the wheels back under the center of mass. The geometry of the front fork also helps it steer itself."),
    ("Give an example of a metaphor.", "Time is a thief is a metaphor: it describes time as something that quietly steals moments from our lives, without using like or as."),
    ("What causes the seasons on Earth?", "The seasons happen because the Earth's axis is tilted. As the planet orbits the Sun, each hemisphere leans toward the Sun for part of the year and receives more direct light."),
    ("Explain the role of a central bank.", "A central bank manages a country's money supply and interest rates, supervises commercial banks and acts as a lender of last resort during financial crises."),
    ("Describe a healthy breakfast.", "A healthy breakfast might be oatmeal with fresh berries and nuts, a boiled egg and a glass of water or unsweetened tea. It combines fiber, protein and healthy fats."),
    ("What does a compiler do?", "A compiler translates source code written in a programming language into machine code or another lower-level form that a computer can run."),
    ("Why do leaves change color in autumn?", "In autumn, trees stop making chlorophyll, the green pigment. As it breaks down, yellow and orange pigments that were hidden become visible, and some trees produce red pigments."),
    ("Explain the rule of thirds in photography.", "The rule of thirds divides a frame into a three-by-three grid. Placing the subject along the lines or at their crossings usually gives a more balanced and interesting picture."),
    ("What is inflation?", "Inflation is the general rise in prices over time, which means that the same amount of money buys fewer goods and services than before."),
    ("How can I improve my writing?", "Read widely, write every day, and revise your drafts. Cut unnecessary words, prefer concrete examples, and ask someone you trust for honest feedback."),
    ("Describe how a refrigerator keeps food cold.", "A refrigerator pumps a refrigerant through a loop. The refrigerant evaporates inside, absorbing heat from the food compartment, then is compressed and releases that heat through coils at the back."),
    ("What is the main idea of supply and demand?", "Prices move toward the point where the quantity people want to buy equals the quantity sellers want to sell. When demand rises or supply falls, prices tend to go up."),
    ("Explain why we have time zones.", "Because the Earth rotates, noon happens at different moments around the world. Time zones let each region keep clocks roughly in line with the position of the Sun."),
    ("Give advice for a job interview.", "Research the company, prepare short stories that show your skills, arrive a little early and ask thoughtful questions at the end. Follow up with a brief thank-you message."),
    ("What is the function of the heart?", "The heart is a muscular pump that pushes blood through the body, delivering oxygen and nutrients to the tissues and carrying away carbon dioxide and waste."),
    ("Translate 'thank you very much' into Spanish.", "In Spanish, thank you very much is muchas gracias."),
]  # fmt: skip

TOPICS = [q for q, _ in FLUENT]
SENTENCES = [s.strip() + "." for _, a in FLUENT for s in a.split(". ") if s.strip()]
VERBS = ["Explain", "Describe", "Summarize", "Discuss", "Outline", "Clarify", "Illustrate", "Analyze"]
SUBJECTS = [
    "photosynthesis", "the water cycle", "inflation", "vaccines", "time zones", "the seasons", "compilers",
    "central banks", "supply and demand", "the rule of thirds", "the heart", "refrigerators", "bicycles",
    "metaphors", "prime numbers", "autumn leaves", "healthy breakfasts", "job interviews", "climate",
    "the solar system", "the First World War", "exercise and mood", "good writing", "bakeries", "tides",
    "volcanoes", "earthquakes", "batteries", "the internet", "democracy", "recycling", "coffee", "chess",
]  # fmt: skip
AUDIENCES = [
    "a child",
    "a student",
    "a beginner",
    "an expert",
    "a journalist",
    "a retiree",
    "a manager",
    "a tourist",
]
ANGLES = ["in simple terms", "with an example", "step by step", "in two paragraphs", "with its history",
          "with its main risks", "with a comparison", "with practical advice"]  # fmt: skip


def repetitive(rng: random.Random, answer: str) -> str:
    words = answer.split()
    if rng.random() < 0.5:
        return " ".join([rng.choice(words)] * rng.randint(8, 20))
    start = rng.randrange(max(1, len(words) - 4))
    return " ".join(words[start : start + rng.randint(2, 4)] * rng.randint(4, 8))


def word_salad(rng: random.Random, answer: str) -> str:
    words = answer.split()
    rng.shuffle(words)
    return " ".join(words)


def gibberish(rng: random.Random, n_words: int = 25) -> str:
    return (
        " ".join(
            "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 9)))
            for _ in range(n_words)
        ).capitalize()
        + "."
    )


def calibration_set(seed: int = 0) -> dict[str, list[tuple[str, str]]]:
    rng = random.Random(seed)
    answers = [a for _, a in FLUENT]
    return {
        "fluent": list(FLUENT),
        "repetitive": [(q, repetitive(rng, a)) for q, a in FLUENT],
        "word_salad": [(q, word_salad(rng, a)) for q, a in FLUENT],
        "gibberish": [(q, gibberish(rng)) for q, _ in FLUENT],
        "off_topic": [(q, answers[(i + 7) % len(answers)]) for i, (q, _) in enumerate(FLUENT)],
    }


def realistic_records(
    n: int, seed: int = 0, dup_rate: float = 0.05, junk_rate: float = 0.02
) -> list[dict[str, str]]:
    """~150-token records on average (instruction ~15 tokens, answer 1-12 fluent sentences of ~20 tokens,
    so lengths vary as in real data); planted near-duplicates
    (an earlier record's instruction with one word changed) and gibberish answers."""
    rng = random.Random(seed)
    out: list[dict[str, str]] = []
    for i in range(n):
        r = rng.random()
        if out and r < dup_rate:
            words = rng.choice(out)["instruction"].split()
            words[rng.randrange(1, len(words))] = rng.choice(["the", "clearly", "briefly", "some"])
            instruction = " ".join(words)
        else:
            instruction = f"{rng.choice(VERBS)} {rng.choice(SUBJECTS)} for {rng.choice(AUDIENCES)} {rng.choice(ANGLES)} (#{i})."
        if r > 1 - junk_rate:
            output = gibberish(rng, 80)
        else:
            output = " ".join(rng.choice(SENTENCES) for _ in range(rng.randint(1, 12)))
        out.append({"instruction": instruction, "input": "", "output": output})
    return out


def short_records(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Short records (~40 tokens) for the memory run over 100,000 records."""
    rng = random.Random(seed)
    return [
        {"instruction": f"{rng.choice(VERBS)} {rng.choice(SUBJECTS)} for {rng.choice(AUDIENCES)} (#{i}).",
         "input": "", "output": " ".join(rng.choice(SENTENCES) for _ in range(2))}
        for i in range(n)
    ]  # fmt: skip
