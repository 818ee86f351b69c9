from django.apps import AppConfig


class DicomReceiverConfig(AppConfig):
    name = "dicom_receiver"
    verbose_name = "DICOM receivers"
    default_auto_field = "django.db.models.BigAutoField"
