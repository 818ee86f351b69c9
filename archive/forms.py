"""Forms for the project pages; label checks come from archive.layout so every entry point agrees."""

from django import forms

from archive import layout
from archive.models import Accessibility, PrearchiveCode, Role


class ProjectCreateForm(forms.Form):
    project_id = forms.CharField(
        label="Project ID",
        max_length=layout.LABEL_MAX_LENGTH,
        validators=[layout.validate_label],
        help_text="Letters, digits, _ and -; it names the project's folder and cannot be changed later.",
    )
    name = forms.CharField(label="Project title", max_length=255)
    secondary_id = forms.CharField(label="Running title", max_length=255, required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    keywords = forms.CharField(max_length=255, required=False)
    pi = forms.CharField(label="Principal investigator", max_length=255, required=False)
    accessibility = forms.ChoiceField(choices=Accessibility.choices, initial=Accessibility.PRIVATE)
    prearchive_code = forms.TypedChoiceField(
        label="New data", choices=PrearchiveCode.choices, coerce=int, initial=PrearchiveCode.MANUAL
    )


class ProjectUserForm(forms.Form):
    user = forms.CharField(label="Username or e-mail", max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleChangeForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
