"""AwsHook: the base of the pipeline's AWS hooks. Every AWS call shares botocore's retries and timeouts (the
connection's ``config_kwargs`` extra over ``policy.aws_client_config()``) and one translation of its failures
(``policy.translate_aws_errors``; CONTRACT.md section 8, docs/RETRIES.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from charter_pipeline.hooks.policy import aws_client_config, translate_aws_errors

if TYPE_CHECKING:
    from botocore.config import Config


class AwsHook(AwsBaseHook):
    """An ``AwsBaseHook`` whose clients raise ``policy.ServiceError`` instead of botocore's errors."""

    @property
    def config(self) -> Config:
        """The connection's ``config_kwargs`` (or the hook's ``config``) over the pipeline's defaults."""
        return aws_client_config().merge(super().config)

    def get_client_type(
        self, region_name: str | None = None, config: Config | None = None, deferrable: bool = False
    ) -> Any:
        """The boto3 client, its failures translated (see the module)."""
        client = super().get_client_type(region_name=region_name, config=config, deferrable=deferrable)
        if deferrable:  # an aiobotocore client: the pipeline makes none
            return client
        return translate_aws_errors(client, self.aws_conn_id, self.secrets)

    def secrets(self) -> list[str | None]:
        """The connection's keys, for redaction."""
        config = self.conn_config
        return [config.aws_access_key_id, config.aws_secret_access_key, config.aws_session_token]
