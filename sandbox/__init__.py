"""Local stand-ins for the pipeline's outside world (moto, JADA, ShipCaptainCrew), bootstrap, samples and tools.

The pipeline (``plugins/``, ``dags/``) never imports this package.
"""
