"""The clean content of the chat-like loopback teacher: tasks, instances and answers, built from word lists.

Tasks combine a verb, a document or form, a topic, an audience and a constraint, so that two tasks rarely
overlap enough for ROUGE-L to call them duplicates; none uses a word of the non-text blacklists. Every input
and output is one or more whole sentences (an upper-case or non-Latin start, a final stop), some with
"For example, ..." inside, some in another language.
"""

from __future__ import annotations

import random

TOPICS = ["tides", "volcanoes", "compound interest", "photosynthesis", "binary search", "the printing press",
          "vaccines", "glaciers", "supply and demand", "the moon landing", "recursion", "coral reefs",
          "sourdough baking", "bicycle gears", "honeybees", "solar panels", "the water cycle", "chess openings",
          "composting", "lighthouses", "ancient Rome", "black holes", "sleep hygiene", "urban gardening",
          "electric cars", "the stock market", "migrating birds", "desert plants", "public libraries",
          "rainforests", "container shipping", "tea ceremonies", "marathon training", "wind turbines", "origami",
          "sea turtles", "the immune system", "typography", "beekeeping", "carbon dating"]  # fmt: skip
AUDIENCES = ["for a curious child", "for busy commuters", "for retired teachers", "for first-year nurses",
             "for amateur chefs", "for small business owners", "for hikers", "for high school students",
             "for new parents", "for museum visitors", "for software engineers", "for farmers", "for tourists",
             "for librarians", "for athletes", "for poets"]  # fmt: skip
CONSTRAINTS = ["in under forty words", "using at least one metaphor", "in a cheerful tone", "ending with a question",
               "without using jargon", "in exactly three sentences", "using simple words", "with a surprising twist",
               "in the second person", "keeping a formal tone", "with one concrete number",
               "avoiding the passive voice", "with a friendly greeting", "mentioning a season", "in a calm voice",
               "with a short anecdote"]  # fmt: skip
DOCS = ["sentence", "email", "paragraph", "product review", "headline", "text message", "memo", "speech opening",
        "note", "announcement"]  # fmt: skip
EDIT_VERBS = ["Rewrite", "Shorten", "Proofread", "Simplify", "Paraphrase", "Summarize", "Expand", "Polish",
              "Restructure", "Edit"]  # fmt: skip
MAKE_VERBS = ["Write", "Compose", "Draft", "Create", "Come up with", "Invent", "Produce", "Suggest"]
FORMS = ["a limerick", "a short toast", "three interview questions", "a haiku", "a product description",
         "a motivational quote", "two fun facts", "a riddle", "a short story opening", "a slogan", "a packing list",
         "a thank-you note", "a weather report", "a job advertisement", "a menu description", "a travel tip"]  # fmt: skip
LANGUAGES = ["Chinese", "Russian", "Japanese", "Greek"]
# task prefix -> its class labels (the classification family)
LABELS = {
    "Decide whether the given": ("Fact", "Opinion"),
    "Classify the sentiment of the given": ("Positive", "Negative"),
    "Tell whether the given": ("Yes", "No"),
    "Label the tone of the given": ("Formal", "Casual"),
}
_CLF_TAILS = {
    "Decide whether the given": "states a fact or an opinion",
    "Classify the sentiment of the given": "as positive or negative",
    "Tell whether the given": "mentions a specific number",
    "Label the tone of the given": "as formal or casual",
}
OPENERS = ["In short,", "Put simply,", "At its core,", "Most of the time,", "In practice,", "Surprisingly,"]
_FACTS = ["{t} follows patterns that can be measured and predicted",
          "{t} depends on a few simple rules that build on each other",
          "{t} changed how ordinary people plan their week",
          "{t} rewards patience more than raw talent",
          "{t} is easier to understand with a small experiment at home",
          "{t} connects to everyday decisions about money and time"]  # fmt: skip
_EXAMPLES = ["For example, a neighbour can notice it on a Sunday walk.",
             "For example, a family saves a little every month and watches it grow.",
             "For example, two friends compared notes and found the same result."]  # fmt: skip
FOREIGN = {
    "Chinese": ["这个主题每天都影响着我们的生活。", "例如，一家人每个月都会存一点钱。", "它的规律可以被测量和预测。"],
    "Russian": ["Эта тема влияет на нашу жизнь каждый день.", "Например, семья каждый месяц откладывает деньги.",
                "Её закономерности можно измерить и предсказать."],
    "Japanese": ["このテーマは毎日の生活に影響しています。", "例えば、家族は毎月少しずつ貯金します。",
                 "その規則は測定して予測できます。"],
    "Greek": ["Αυτό το θέμα επηρεάζει τη ζωή μας κάθε μέρα.", "Για παράδειγμα, μια οικογένεια αποταμιεύει κάθε μήνα.",
              "Οι κανόνες του μπορούν να μετρηθούν και να προβλεφθούν."],
}  # fmt: skip
ANSWER_LINES = ["{T} starts with a simple idea that most people already know from daily life.",
                "Scientists and teachers describe {t} with careful observations and simple models.",
                "A common misconception is that {t} happens randomly, while it follows clear patterns.",
                "For example, a student can observe {t} with a notebook and a little patience.",
                "The key steps are easy to list, and each one builds on the previous one.",
                "Many people first meet {t} at school, for example in a short science lesson."]  # fmt: skip
_ADDITIONS = ["Explain it in exactly three numbered steps and name one common misconception about it.",
              "Include one concrete example from daily life and keep the whole answer under 150 words.",
              "Compare it with something from everyday cooking and end with a one-sentence summary.",
              "Add a short list of two sources a beginner could read next, with one reason each.",
              "Make sure the answer uses no technical terms and could be read aloud in one minute."]  # fmt: skip
_TITLES = ["Creative Writing", "Science Explainer", "Everyday Editing", "Quick Classification", "Travel Help"]


def make_task(rng: random.Random) -> tuple[str, str]:
    """A new task and its family: clf, translate, input (an edit of a given text) or noinput."""
    topic, aud = rng.choice(TOPICS), rng.choice(AUDIENCES)
    kind = rng.choices(["clf", "translate", "input", "noinput"], [2, 1, 3, 4])[0]
    if kind == "clf":
        prefix = rng.choice(list(LABELS))
        return f"{prefix} {rng.choice(DOCS)} about {topic} {aud} {_CLF_TAILS[prefix]}.", kind
    if kind == "translate":
        return (
            f"Translate the given {rng.choice(DOCS)} about {topic} into {rng.choice(LANGUAGES)} {aud}.",
            kind,
        )
    if kind == "input":
        verb, doc, con = rng.choice(EDIT_VERBS), rng.choice(DOCS), rng.choice(CONSTRAINTS)
        return f"{verb} the given {doc} about {topic} {aud}, {con}.", kind
    verb, form, con = rng.choice(MAKE_VERBS), rng.choice(FORMS), rng.choice(CONSTRAINTS)
    return f"{verb} {form} about {topic} {aud}, {con}.", kind


def rewrite_addition(rng: random.Random) -> str:
    """What an in-depth rewrite adds to its parent (10 to 20 words)."""
    return rng.choice(_ADDITIONS)


def answer_text(rng: random.Random, topic: str) -> str:
    """An answer of two to four sentences; a quarter of them in another language."""
    if rng.random() < 0.25:
        return "".join(FOREIGN[rng.choice(LANGUAGES)])
    lines = rng.sample(ANSWER_LINES, rng.randint(2, 4))
    return " ".join(x.format(t=topic, T=topic[:1].upper() + topic[1:]) for x in lines)


class Content:
    """The sentences of one reply, drawn from the reply's own random generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def title(self) -> str:
        return self.rng.choice(_TITLES)

    def sentence(self, topic: str | None = None) -> str:
        t = topic or self.rng.choice(TOPICS)
        fact = self.rng.choice(_FACTS).format(t=t)
        return f"{self.rng.choice(OPENERS)} {fact} {self.rng.randint(2, 999)} times over."

    def pair(self, kind: str, instruction: str) -> tuple[str, str]:
        topic = next((t for t in TOPICS if f"about {t} " in instruction), None)
        if kind == "translate":
            lang = next((x for x in LANGUAGES if x in instruction), "Chinese")
            return self.sentence(topic), " ".join(self.rng.sample(FOREIGN[lang], 2))
        out = self.sentence(topic)
        r = self.rng.random()
        if r < 0.35:
            out = f"{out} {self.rng.choice(_EXAMPLES)}"
        elif r < 0.5:
            out = f"{out}\n{self.rng.choice(_EXAMPLES)}"
        elif r < 0.6:
            out = out[:-1] + ", for example on a rainy Monday."
        return ("" if kind == "noinput" else self.sentence(topic)), out
