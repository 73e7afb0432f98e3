"""`safety.crisis_response`: what a user in crisis sees instead of a model answer."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, Field


class HelpResource(BaseModel):
    name: str
    contact: str
    description: str = ""


class CrisisResponse(BaseModel):
    """What the user sees instead of a model answer when a message escalates, per locale.

    Locales are BCP 47 tags ("en", "en-US", "de-DE"); `for_locale` falls back from the full
    tag to its language, then to `default_locale`, so every request gets an answer.
    """

    default_locale: str = "en"
    messages: dict[str, str] = Field(default_factory=lambda: {
        "en": ("It sounds like you are going through something really painful, and I'm glad "
               "you said it. You don't have to face this alone: please reach out to someone "
               "who can help right now. If you are in immediate danger, call your local "
               "emergency number."),
    })
    resources: dict[str, list[HelpResource]] = Field(default_factory=lambda: {
        "en-US": [HelpResource(name="988 Suicide & Crisis Lifeline",
                               contact="Call or text 988, or chat at 988lifeline.org",
                               description="Free, confidential, 24/7 (United States)")],
        "en-GB": [HelpResource(name="Samaritans", contact="Call 116 123",
                               description="Free, 24/7 (UK and Ireland)")],
        "en": [HelpResource(name="988 Suicide & Crisis Lifeline (US)",
                            contact="Call or text 988"),
               HelpResource(name="Find a Helpline", contact="https://findahelpline.com",
                            description="Free, confidential helplines in 130+ countries")],
        "*": [HelpResource(name="Find a Helpline", contact="https://findahelpline.com",
                           description="International directory of crisis lines"),
              HelpResource(name="Emergency services",
                           contact="Your local emergency number (112 in the EU, 911 in the US)")],
    })

    def _lookup(self, table: Mapping[str, object], locale: str | None) -> object | None:
        tag = (locale or self.default_locale).replace("_", "-")
        for key in (tag, tag.split("-")[0], self.default_locale, "*"):
            if key in table:
                return table[key]
        return None

    def for_locale(self, locale: str | None = None) -> tuple[str, list[HelpResource]]:
        message = self._lookup(self.messages, locale) or next(iter(self.messages.values()))
        found = self._lookup(self.resources, locale)
        resources = found if isinstance(found, list) else []
        return str(message), resources

    def render(self, locale: str | None = None) -> str:
        """Plain text: the message, then one line per resource."""
        message, resources = self.for_locale(locale)
        lines = [message, ""] + [f"- {r.name}: {r.contact}" + (f" ({r.description})"
                                                              if r.description else "")
                                 for r in resources]
        return "\n".join(lines).rstrip()
