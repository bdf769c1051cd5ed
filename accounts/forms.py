from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation

from accounts.connections import DEMO_SIZES
from accounts.models import Role, User


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.REVIEWER)

    def cleaned_role(self) -> Role:
        return Role(self.cleaned_data["role"])


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)

    def cleaned_role(self) -> Role:
        return Role(self.cleaned_data["role"])


class JoinForm(forms.Form):
    """A new person's name and password, set from the invitation link."""

    name = forms.CharField(max_length=150, label="Your name")
    password1 = forms.CharField(
        label="Password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args: object, email: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.email = email

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif isinstance(first, str):
            try:
                password_validation.validate_password(
                    first, user=User(email=self.email, name=str(data.get("name", "")))
                )
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data


class DemoConnectForm(forms.Form):
    size = forms.TypedChoiceField(
        label="Followers to simulate", coerce=int, initial=10_000,
        choices=[(n, f"{n:,}") for n in DEMO_SIZES],
    )  # fmt: skip


class MastodonConnectForm(forms.Form):
    instance = forms.CharField(
        label="Mastodon server", max_length=200, help_text="For example mastodon.social or https://fosstodon.org",
        widget=forms.TextInput(attrs={"placeholder": "mastodon.social", "autocomplete": "url"}),
    )  # fmt: skip


class BlueskyConnectForm(forms.Form):
    handle = forms.CharField(
        label="Handle", max_length=253, widget=forms.TextInput(attrs={"placeholder": "yourbrand.bsky.social"})
    )
    app_password = forms.CharField(
        label="App password", max_length=200, strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Create one in Bluesky under Settings → Privacy and security → App passwords. "
        "Never use your main password.",
    )  # fmt: skip


class CustomerUploadForm(forms.Form):
    file = forms.FileField(
        label="Customer list (CSV)",
        help_text="A first line naming a \u201chandle\u201d column, an \u201cemail\u201d column, or both.",
    )
