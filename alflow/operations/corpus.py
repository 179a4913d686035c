"""A text corpus the project generates: customer-support tickets in four classes, no download.

Each ticket is a greeting, one or two sentences about its class's problem, often a sentence that
belongs to another class (a billing ticket that also mentions a late parcel), and a closing. The
mixed tickets and the words several classes share (order, account, app, payment) keep the task
from being separable by one keyword, so the order in which tickets are labeled matters. The same
seed gives the same corpus.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CLASSES = ("billing", "shipping", "technical", "account")

_PROBLEMS = {
    "billing": [
        "I was charged twice for my {plan} this month",
        "the invoice for order {n} shows the wrong amount",
        "my card was billed after I cancelled the {plan}",
        "I need a refund for the duplicate payment",
        "the discount code was not applied to my bill",
        "why did my {plan} price go up without notice",
        "please send a corrected invoice with our VAT number",
        "the payment failed but the money left my account",
        "I want to switch to yearly billing to save money",
        "there is a charge on my statement I do not recognise",
    ],
    "shipping": [
        "my parcel for order {n} has not arrived yet",
        "the tracking number says delivered but nothing came",
        "the courier left the package at the wrong address",
        "can I change the delivery address for order {n}",
        "the box arrived damaged and two items are missing",
        "delivery was promised in three days and it has been two weeks",
        "how much does express shipping cost to {city}",
        "the order shipped to {city} instead of my home",
        "I would like to return the item and get a shipping label",
        "the parcel is stuck in customs in {city}",
    ],
    "technical": [
        "the app crashes every time I open the settings page",
        "I get error {n} when I try to upload a file",
        "the website is very slow and pages time out",
        "sync between my phone and laptop stopped working",
        "after the last update the app will not start",
        "the export to CSV produces an empty file",
        "notifications stopped arriving on my phone",
        "the page shows a blank screen in my browser",
        "the integration with our calendar throws an error",
        "search returns no results even for exact names",
    ],
    "account": [
        "I cannot log in even after resetting my password",
        "please delete my account and all my data",
        "how do I change the email address on my account",
        "my account was locked after too many attempts",
        "I want to add a second user to our {plan}",
        "the two factor code never arrives by text message",
        "someone else may have accessed my account",
        "how do I transfer the account to a colleague",
        "I did not receive the email to verify my account",
        "please merge my two accounts into one",
    ],
}
_OPENINGS = ["Hello,", "Hi team,", "Good morning,", "Dear support,", "Hi,", "Hello there,", ""]
_CLOSINGS = [
    "Thanks.",
    "Please help.",
    "Thank you for your help.",
    "This is urgent.",
    "Kind regards.",
    "Any update would be appreciated.",
    "",
]
_PLANS = ["subscription", "premium plan", "team plan", "basic plan", "annual plan"]
_CITIES = ["Lisbon", "Oslo", "Denver", "Osaka", "Nairobi", "Lyon", "Perth"]


def _sentence(rng: np.random.Generator, label: str) -> str:
    template = _PROBLEMS[label][int(rng.integers(len(_PROBLEMS[label])))]
    return template.format(
        plan=_PLANS[int(rng.integers(len(_PLANS)))],
        n=int(rng.integers(1000, 99999)),
        city=_CITIES[int(rng.integers(len(_CITIES)))],
    )


def ticket(rng: np.random.Generator, label: str, *, mixed: float) -> str:
    """One ticket of class `label`; with probability `mixed` it also mentions another class's problem."""
    sentences = [_sentence(rng, label)]
    if rng.random() < 0.35 and (second := _sentence(rng, label)) != sentences[0]:
        sentences.append(second)
    if rng.random() < mixed:
        other = [c for c in CLASSES if c != label][int(rng.integers(len(CLASSES) - 1))]
        sentences.insert(int(rng.integers(len(sentences) + 1)), "also " + _sentence(rng, other))
    opening = _OPENINGS[int(rng.integers(len(_OPENINGS)))]
    body = [s + "." if i == 0 and opening else s[0].upper() + s[1:] + "." for i, s in enumerate(sentences)]
    return " ".join(p for p in [opening, *body, _CLOSINGS[int(rng.integers(len(_CLOSINGS)))]] if p)


def support_tickets(n: int, *, seed: int = 0, mixed: float = 0.4) -> pd.DataFrame:
    """`n` tickets: columns id (`ticket-00001`...), text and label, classes in proportions 4:3:2:1
    (billing most common, account rarest, as in a real queue)."""
    rng = np.random.default_rng(seed)
    shares = np.array([4, 3, 2, 1], dtype=float)
    labels = rng.choice(len(CLASSES), size=n, p=shares / shares.sum())
    texts = [ticket(rng, CLASSES[i], mixed=mixed) for i in labels]
    return pd.DataFrame(
        {"id": [f"ticket-{i:05d}" for i in range(n)], "text": texts, "label": [CLASSES[i] for i in labels]}
    )
