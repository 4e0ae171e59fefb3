from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm


class SignInForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email address", widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True})
    )
    error_messages = {
        "invalid_login": "That email address and password do not match an active account.",
        "inactive": "This account has been disabled. Ask your administrator.",
    }


class TotpCodeForm(forms.Form):
    code = forms.CharField(
        label="6-digit code from your authenticator app",
        min_length=6,
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].replace(" ", "")
        if not (code.isascii() and code.isdigit()):
            raise forms.ValidationError("The code is made of digits only.")
        return code
