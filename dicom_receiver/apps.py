from django.apps import AppConfig


class DicomReceiverConfig(AppConfig):
    name = "dicom_receiver"
    default_auto_field = "django.db.models.BigAutoField"
