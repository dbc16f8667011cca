"""Rule tags from what fans write, and the tag set of a profile.

A rule names a tag and the keywords and hashtags that earn it. Text and rules are compared
after Unicode NFKC normalisation and case folding, so full-width and half-width forms, and
upper and lower case, are the same. A keyword matches anywhere in the text (substring: Chinese
and Japanese have no spaces between words, so no word splitting is attempted). A hashtag
matches a whole tag in the text, written ``#tag`` (ended by a space or punctuation) or
Weibo-style ``#话题#``.
"""

import re
import unicodedata
from typing import Annotated, NamedTuple, Self

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from services.scoring.scores.behaviour import BEHAVIOUR_TAGS
from services.scoring.scores.explain import FrozenModel

ENCLOSED_HASHTAG = re.compile(r"#([^#\s]+)#")  # Weibo: #话题#
OPEN_HASHTAG = re.compile(r"#(\w+)")  # #tag; \w takes CJK letters too


def normalised(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def _term(value: str) -> str:
    term = normalised(value).strip("#").strip()
    if not term:
        raise ValueError("an empty keyword or hashtag matches everything")
    return term


Term = Annotated[str, AfterValidator(_term)]
TagName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class TagRule(FrozenModel):
    keywords: tuple[Term, ...] = ()
    hashtags: tuple[Term, ...] = Field(default=(), description="without the #")

    @model_validator(mode="after")
    def _matches_something(self) -> Self:
        if not self.keywords and not self.hashtags:
            raise ValueError("a tag rule needs at least one keyword or hashtag")
        return self


def _not_a_behaviour_tag(rules: dict[str, TagRule]) -> dict[str, TagRule]:
    taken = sorted(BEHAVIOUR_TAGS & rules.keys())
    if taken:
        raise ValueError(f"tag names {taken} are behaviour tags; pick other names")
    return rules


TagRules = Annotated[dict[TagName, TagRule], AfterValidator(_not_a_behaviour_tag)]


def hashtags(text: str) -> frozenset[str]:
    return _hashtags(normalised(text))


def _hashtags(text: str) -> frozenset[str]:
    """The hashtags of a text already `normalised`."""
    enclosed = ENCLOSED_HASHTAG.findall(text)
    rest = ENCLOSED_HASHTAG.sub(" ", text)
    return frozenset(tag for tag in (*enclosed, *OPEN_HASHTAG.findall(rest)))


NO_TAGS: frozenset[str] = frozenset()


def rule_tags(text: str, rules: dict[str, TagRule]) -> frozenset[str]:
    """The tags whose rules the text meets."""
    if not rules:
        return NO_TAGS  # the text need not be read
    plain = normalised(text)
    found = _hashtags(plain)
    return frozenset(
        name
        for name, rule in rules.items()
        if any(keyword in plain for keyword in rule.keywords) or found & set(rule.hashtags)
    )


class Tags(NamedTuple):
    """A profile's tags by origin: rules, behaviour, and those set by hand (kept apart, so
    computed tags never overwrite them)."""

    rule: frozenset[str]
    behaviour: frozenset[str]
    manual: frozenset[str]

    @property
    def all(self) -> tuple[str, ...]:
        return tuple(sorted(self.rule | self.behaviour | self.manual))
