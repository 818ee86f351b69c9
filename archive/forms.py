"""Forms for the project pages; label checks come from xnatlite.layout so every entry point agrees."""

from django import forms

from archive.models import ScanQuality, SessionType
from xnatlite import layout
from xnatlite.models import Accessibility, PrearchiveCode, Role


class ProjectSettingsForm(forms.Form):
    """The project fields an owner may change (the ID never changes: it names the folder)."""

    name = forms.CharField(label="Project title", max_length=255)
    secondary_id = forms.CharField(label="Running title", max_length=255, required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    keywords = forms.CharField(max_length=255, required=False)
    pi = forms.CharField(label="Principal investigator", max_length=255, required=False)
    accessibility = forms.ChoiceField(
        choices=Accessibility.choices, initial=Accessibility.PRIVATE, widget=forms.RadioSelect
    )
    prearchive_code = forms.TypedChoiceField(
        label="New data",
        choices=PrearchiveCode.choices,
        coerce=int,
        initial=PrearchiveCode.MANUAL,
        widget=forms.RadioSelect,
        help_text=(
            "Auto-archive puts every new session into the archive without anyone reviewing it, under the "
            "labels routing gave it (the subject from Patient Name, the session from Patient ID, unless "
            "the DICOM or the upload names them). A session whose labels look like a person's name or a "
            "medical record number is not auto-archived: it stops in the prearchive as ERROR, with the "
            "reason, until a member relabels it or confirms the labels in Review and Archive."
        ),
    )


class ProjectCreateForm(ProjectSettingsForm):
    project_id = forms.CharField(
        label="Project ID",
        max_length=layout.LABEL_MAX_LENGTH,
        validators=[layout.validate_label],
        help_text="Letters, digits, _ and -; it names the project's folder and cannot be changed later.",
    )
    field_order = ["project_id"]


class ProjectRequestForm(forms.Form):
    """What someone who may not create projects asks the site admins for."""

    project_id = forms.CharField(
        label="Project ID",
        max_length=layout.LABEL_MAX_LENGTH,
        validators=[layout.validate_label],
        help_text="Letters, digits, _ and -; it names the project's folder and cannot be changed later.",
    )
    name = forms.CharField(label="Project title", max_length=255)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    reason = forms.CharField(
        label="What it is for",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="For the administrator: the study, who sends its data (scanner, Study Description).",
    )


class ProjectRequestDecisionForm(forms.Form):
    request = forms.IntegerField(widget=forms.HiddenInput)
    action = forms.ChoiceField(choices=[("approve", "Approve"), ("refuse", "Refuse")])
    note = forms.CharField(label="Note to the requester", max_length=2000, required=False)


class ProjectUserForm(forms.Form):
    user = forms.CharField(label="Username or e-mail", max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleChangeForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class AliasForm(forms.Form):
    alias = forms.CharField(
        label="New alias",
        max_length=layout.LABEL_MAX_LENGTH,
        validators=[layout.validate_label],
        help_text="Another ID routing and the REST API accept for this project.",
    )


class SessionFilterForm(forms.Form):
    """The project page's search; every field optional, bad values are ignored, not fatal."""

    q = forms.CharField(label="Label or accession ID", required=False, max_length=100)
    modality = forms.ChoiceField(required=False, choices=[("", "any")])
    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data, modalities: list[str]):
        super().__init__(data)
        self.fields["modality"].choices = [("", "any"), *((m, m) for m in modalities)]


class SubjectFilterForm(forms.Form):
    q = forms.CharField(label="Label or accession ID", required=False, max_length=100)


BLANK = [("", "—")]


class SubjectEditForm(forms.Form):
    group = forms.CharField(max_length=255, required=False)
    src = forms.CharField(label="Source", max_length=255, required=False)
    gender = forms.ChoiceField(
        required=False, choices=BLANK + [(v, v) for v in ("female", "male", "other", "unknown")]
    )
    yob = forms.IntegerField(label="Year of birth", required=False)
    handedness = forms.ChoiceField(
        required=False, choices=BLANK + [(v, v) for v in ("right", "left", "ambidextrous", "unknown")]
    )
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class SessionEditForm(forms.Form):
    visit_id = forms.CharField(label="Visit", max_length=255, required=False)
    session_type = forms.CharField(label="Session type", max_length=255, required=False)
    date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    time = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time", "step": 1}))
    acquisition_site = forms.CharField(label="Acquisition site", max_length=255, required=False)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class ScanEditForm(forms.Form):
    type = forms.CharField(max_length=255, required=False)
    series_description = forms.CharField(label="Series description", max_length=255, required=False)
    quality = forms.ChoiceField(choices=ScanQuality.choices)
    condition = forms.CharField(max_length=255, required=False)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


# --- creating, relabelling, resource files -------------------------------------------------------------
def label_field(label: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=layout.LABEL_MAX_LENGTH,
        validators=[layout.validate_label],
        help_text=help_text or "Letters, digits, _ and -; it names a folder.",
    )


class RelabelForm(forms.Form):
    label = label_field(
        "New label", "Letters, digits, _ and -. The folder is renamed; the DICOM headers keep the old label."
    )


class SubjectCreateForm(SubjectEditForm):
    label = label_field("Subject label")
    field_order = ["label"]


class SessionCreateForm(forms.Form):
    label = label_field("Session label")
    xsi_type = forms.ChoiceField(label="Type", choices=SessionType.choices, initial=SessionType.MR)
    date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    visit_id = forms.CharField(label="Visit", max_length=255, required=False)
    session_type = forms.CharField(label="Session type", max_length=255, required=False)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class ResourceUploadForm(forms.Form):
    """Files into a named resource of a session or scan; the files themselves are `files` in the POST."""

    resource = label_field("Resource", "An existing resource or a new one, e.g. NOTES, NIFTI, REPORT.")
    folder = forms.CharField(
        label="Folder inside the resource (optional)",
        required=False,
        max_length=255,
        help_text="For example reports/2024; empty: the resource's top.",
    )
    format = forms.CharField(
        required=False, max_length=64, widget=forms.TextInput(attrs={"placeholder": "NIFTI, PDF, TXT"})
    )
    content = forms.CharField(
        required=False, max_length=64, widget=forms.TextInput(attrs={"placeholder": "T1_RAW, NOTES"})
    )
    extract = forms.BooleanField(label="Unpack zip and tar files into the resource", required=False)
    overwrite = forms.BooleanField(label="Replace files that already exist", required=False)
