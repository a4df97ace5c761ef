# The operator's Airflow image: the official image plus this pipeline's locked runtime dependencies
# (Airflow docker-stack docs, "extending the image"). docker-compose.yaml builds it; nothing is installed at start-up.
FROM apache/airflow:3.3.2-python3.11

COPY requirements.txt /opt/airflow/requirements.txt
# Airflow is named again on the command line so that no dependency in the lock can move it off the image's version.
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r /opt/airflow/requirements.txt
