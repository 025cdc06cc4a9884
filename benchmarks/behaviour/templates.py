"""The behaviour templates: (capability, gold label, template), one a line. A slot names a
list of :data:`SLOTS` (``{product}`` one of the products); a case is a template with every
slot filled. "clear" templates are no capability: transforms and emoji are applied to them."""

from __future__ import annotations

from benchmarks.behaviour import lexicon as words

SLOTS: dict[str, tuple[str, ...]] = {
    "product": words.PRODUCTS,
    "positive": words.POSITIVE_ADJECTIVES,
    "negative": words.NEGATIVE_ADJECTIVES,
    "neutral": words.NEUTRAL_ADJECTIVES,
    "love": words.POSITIVE_VERBS,
    "hate": words.NEGATIVE_VERBS,
    "love_it": ("love", "really like"),
    "hate_it": ("hate", "regret buying"),
    "not_good": words.NEGATABLE_POSITIVE,
    "regret": words.REGRETS,
    "not_bad": words.NEGATABLE_NEGATIVE,
    "content": words.CONTENT,
    "minor_good": words.MINOR_GOOD,
    "minor_bad": words.MINOR_BAD,
    "verdict_good": words.VERDICT_GOOD,
    "verdict_bad": words.VERDICT_BAD,
    "intensifier": words.INTENSIFIERS,
    "modifier": words.INTENSIFIERS + words.DOWNTONERS,  # downtoners only on negative words
    "good": words.MODIFIED_POSITIVE,
    "bad": words.MODIFIED_NEGATIVE,
}

TEMPLATES: tuple[tuple[str, str, str], ...] = (
    ("vocabulary", "positive", "this {product} is {positive}."),
    ("vocabulary", "positive", "{positive} {product}."),
    ("vocabulary", "positive", "I {love} this {product}."),
    ("vocabulary", "negative", "this {product} is {negative}."),
    ("vocabulary", "negative", "{negative} {product}."),
    ("vocabulary", "negative", "I {hate} this {product}."),
    ("vocabulary", "neutral", "this {product} is {neutral}."),
    ("vocabulary", "neutral", "the {product}? {neutral}."),
    ("vocabulary", "neutral", "my new {product} is {neutral}."),
    ("negated positive", "negative", "this {product} is not {not_good}. {regret}."),
    ("negated positive", "negative", "the {product} is not {not_good} at all, {regret}."),
    ("negated positive", "negative", "sadly the {product} isn't {not_good}, {regret}."),
    ("negated positive", "negative", "I don't think this {product} is {not_good}, {regret}."),
    ("negated negative", "positive", "this {product} is not {not_bad} at all. {content}."),
    ("negated negative", "positive", "the {product} isn't {not_bad}, {content}."),
    ("negated negative", "positive", "I was worried the {product} would be {not_bad}, but it is not {not_bad} at all, {content}."),
    ("negated negative", "positive", "I don't think this {product} is {not_bad} at all, {content}."),
    # Contrast: the clause after but / although / however / "at first ... then" decides.
    ("contrast", "negative", "{minor_good}, but the {product} {verdict_bad}."),
    ("contrast", "negative", "although {minor_good}, the {product} {verdict_bad}."),
    ("contrast", "negative", "{minor_good}. However, the {product} {verdict_bad}."),
    ("contrast", "negative", "I wanted to love this {product}, but it {verdict_bad}."),
    ("contrast", "negative", "at first I liked the {product}, then it {verdict_bad}."),
    ("contrast", "positive", "{minor_bad}, but the {product} {verdict_good}."),
    ("contrast", "positive", "although {minor_bad}, the {product} {verdict_good}."),
    ("contrast", "positive", "{minor_bad}. However, the {product} {verdict_good}."),
    ("contrast", "positive", "I expected the worst from this cheap {product}, but it {verdict_good}."),
    ("contrast", "positive", "at first I did not like the {product}, but now it {verdict_good}."),
    # Stronger or weaker, the same side ("fairly good" can be a 3-star verdict: no downtoner on positive words).
    ("intensifiers and downtoners", "positive", "this {product} is {intensifier} {good}."),
    ("intensifiers and downtoners", "positive", "{intensifier} {good} {product}."),
    ("intensifiers and downtoners", "negative", "this {product} is {modifier} {bad}."),
    ("intensifiers and downtoners", "negative", "I found the {product} {modifier} {bad}."),
    ("intensifiers and downtoners", "negative", "I am {modifier} disappointed with this {product}."),
    # 3-star reviews: neither side wins.
    ("neutral and mixed", "neutral", "the {product} is okay. It does the job, nothing special."),
    ("neutral and mixed", "neutral", "average {product}. Not great, not terrible."),
    ("neutral and mixed", "neutral", "the {product} is fine for the price, neither good nor bad."),
    ("neutral and mixed", "neutral", "it's an okay {product}. Some things I like, some I don't."),
    ("neutral and mixed", "neutral", "does what it says, nothing more. An average {product}."),
    ("neutral and mixed", "neutral", "{minor_good}, but {minor_bad}. An average {product}, three stars."),
    ("neutral and mixed", "neutral", "mixed feelings about this {product}: {minor_good}, but {minor_bad}. It is okay."),
    ("clear", "positive", "this {product} is {positive}. I {love_it} it."),
    ("clear", "negative", "this {product} is {negative}. I {hate_it} it."),
)
