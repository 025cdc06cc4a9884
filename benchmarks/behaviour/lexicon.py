"""The words the behaviour cases are built from: retail products, sentiment words and
phrases, neutral filler and emoji. Each list holds only words whose reading is clear in
every template that uses it (e.g. no "perfect" after "not": "not perfect" can be 4 stars)."""

from __future__ import annotations

# Singular nouns, read after "this"/"the" ("an average umbrella" never needs a/an: "average").
PRODUCTS = (
    "kettle",
    "charger",
    "toaster",
    "blender",
    "backpack",
    "desk lamp",
    "phone case",
    "coffee maker",
    "keyboard",
    "mouse",
    "speaker",
    "hair dryer",
    "water bottle",
    "power bank",
    "router",
    "webcam",
    "umbrella",
    "frying pan",
    "electric toothbrush",
    "pair of headphones",
)

POSITIVE_ADJECTIVES = ("great", "excellent", "fantastic", "wonderful", "amazing", "superb", "brilliant", "outstanding", "perfect", "awesome")
NEGATIVE_ADJECTIVES = ("terrible", "awful", "horrible", "useless", "dreadful", "rubbish", "appalling", "defective", "pathetic", "atrocious")
NEUTRAL_ADJECTIVES = ("okay", "average", "alright", "so-so", "just okay", "nothing special")
POSITIVE_VERBS = ("love", "adore", "really like", "highly recommend")
NEGATIVE_VERBS = ("hate", "regret buying", "despise", "am very disappointed with")

# Read after "not": each negation is as clear as its plain form is.
NEGATABLE_POSITIVE = ("good", "great", "reliable", "worth the money", "easy to use", "well made", "comfortable to use")
NEGATABLE_NEGATIVE = ("bad", "disappointing", "flimsy", "a waste of money", "difficult to use", "a letdown", "a disappointment")

# Consequences that say the verdict without a strong sentiment adjective.
REGRETS = ("I regret buying it", "I want my money back", "I am sending it back", "I would not buy it again", "save your money")
CONTENT = ("I am very happy with it", "I would buy it again", "I am really pleased", "very happy", "I use it every day and I am glad I bought it")

# Contrast: a minor aspect first, then the clause that carries the verdict.
MINOR_GOOD = ("the box looked nice", "delivery was quick", "the colour is lovely", "the price was low", "it looks stylish")
MINOR_BAD = ("delivery was slow", "the box was dented", "the instructions are confusing", "it took a week to arrive", "the packaging was ugly")
VERDICT_GOOD = ("works perfectly and I love it", "is excellent and I would buy it again", "does everything I wanted, very happy", "is the best I have ever owned")
VERDICT_BAD = ("broke after two days and I want a refund", "stopped working within a week, a total waste of money", "is useless and I regret buying it", "is the worst I have ever owned")

# Neutral, descriptive sentences for the long reviews ({product} is filled in).
FILLER = (
    "I bought this {product} last month.",
    "It came in a plain cardboard box with a short manual.",
    "I have used it most days since then.",
    "My partner uses it at the weekend as well.",
    "It is grey and about the size I expected.",
    "I compared a few models before choosing this one.",
    "Setting it up took about ten minutes.",
    "The price was similar to other brands.",
    "I keep the {product} on a shelf next to my desk.",
    "It was delivered on a Tuesday morning.",
    "The manual is printed in four languages.",
    "I mostly use it in the evenings.",
)
LONG_VERDICTS = {
    "positive": ("Overall it is excellent and I love it.", "In the end, it is the best purchase I made this year.", "All in all, fantastic, I would buy it again."),
    "negative": ("Overall it is terrible and I regret buying it.", "In the end, it broke and I want a refund.", "All in all, awful, a total waste of money."),
    "neutral": ("Overall it is okay, nothing special.", "In the end, it is average: it does the job and no more.", "All in all, neither good nor bad, three stars."),
}

INTENSIFIERS = ("very", "really", "extremely", "incredibly", "truly")
# Only on negative words: "fairly good" can be a 3-star verdict, "fairly poor" is not.
DOWNTONERS = ("somewhat", "a bit", "rather", "fairly", "quite")
MODIFIED_POSITIVE = ("good", "nice", "impressive", "well made", "useful", "reliable")
MODIFIED_NEGATIVE = ("disappointing", "poor", "unreliable", "badly made")

POSITIVE_EMOJI = ("😍", "👍", "❤️", "😊", "🥰", "💯")
NEGATIVE_EMOJI = ("😡", "👎", "🤬", "😠", "🤮", "😤")
# Neutral events: the emoji after one carries the verdict.
EVENTS = ("The {product} arrived today", "Just tried the {product} for the first time", "Got the {product} yesterday", "Used the {product} this morning")
