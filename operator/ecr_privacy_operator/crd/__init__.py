"""The EcrPrivacyPolicy custom resource: spec and status models, and status conditions."""
