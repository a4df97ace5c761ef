"""LedgerHook: the pipeline's own DynamoDB table (``ledger_table``, partition key ``booking_id``), thin: the client
(``aws_default``), the table name, boto3's serializers at the call boundary (callers read and write plain values)
and the count of outside calls, kept by one botocore event handler. What the items mean is the stores' (stores/)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from charter_pipeline.hooks.aws import AwsHook
from charter_pipeline.hooks.policy import aws_error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient  # pragma: no cover

# DynamoDB's limit: 100 keys per BatchGetItem.
BATCH_GET = 100
_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize
# What an UpdateItem does with the i-th value.
_CLAUSES = {"set": "#a{i} = :v{i}", "absent": "#a{i} = if_not_exists(#a{i}, :v{i})", "add": "#a{i} :v{i}"}
# A condition: the expression, and its operands (``#`` names and ``:`` plain values).
Condition = tuple[str, Mapping[str, Any]]


def typed(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item (or expression values) in DynamoDB's typed JSON."""
    return {name: _serialize(value) for name, value in item.items()}


def plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item as plain Python values (numbers as Decimal, binary as boto3's Binary, string sets as sets)."""
    # Strings, nearly every attribute, are taken as they are: a poll reads one summary per booking an export names,
    # and TypeDeserializer's dispatch for each of their strings was a third of a re-export poll (make bench intake).
    return {name: value["S"] if "S" in value else _deserialize(value) for name, value in item.items()}


class ConditionFailed(Exception):
    """A conditional write found the item otherwise than the condition asked."""


class LedgerHook(AwsHook):
    """The charter booking ledger's table through the ``aws_default`` connection. Its failures arrive translated
    (``AwsHook``: refused credentials fail fast naming the connection); a lost conditional write as ClientError."""

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    conn_type = "aws"
    hook_name = "Charter booking ledger"

    def __init__(self, table_name: str, aws_conn_id: str | None = default_conn_name, **kwargs: Any) -> None:
        super().__init__(aws_conn_id=aws_conn_id, client_type="dynamodb", **kwargs)
        self.table_name = table_name
        self.calls = 0  # outside calls made, for the run summary and benchmarks

    @cached_property
    def client(self) -> DynamoDBClient:
        client: DynamoDBClient = self.get_conn()
        # Every DynamoDB call this client makes is counted here, once, whichever store made it.
        client.meta.events.register("before-call.dynamodb", self._count_call, unique_id=f"ledger-calls-{id(self)}")
        return client

    def _count_call(self, **_: Any) -> None:
        self.calls += 1

    def get(self, booking_id: str, projection: Sequence[str] = (), *, consistent: bool = True) -> dict[str, Any] | None:
        """One item by its key, or None."""
        key = typed({"booking_id": booking_id})
        item = self._call("get_item", Key=key, ConsistentRead=consistent, **_projection(projection)).get("Item")
        return plain(item) if item else None

    def batch_get(self, booking_ids: Iterable[str], projection: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        """The items of many keys, read consistently with BatchGetItem 100 keys a call, asking again for the keys
        DynamoDB left unprocessed (with the same projection: not relying on the answer to repeat it)."""
        ids = sorted(set(booking_ids))
        for start in range(0, len(ids), BATCH_GET):
            keys: list[dict[str, Any]] = [typed({"booking_id": i}) for i in ids[start : start + BATCH_GET]]
            while keys:
                request = {self.table_name: {"Keys": keys, "ConsistentRead": True, **_projection(projection)}}
                answer = self.client.batch_get_item(RequestItems=request)  # type: ignore[arg-type]
                yield from map(plain, answer.get("Responses", {}).get(self.table_name, []))
                unprocessed: dict[str, Any] = dict(answer.get("UnprocessedKeys") or {})
                keys = unprocessed.get(self.table_name, {}).get("Keys", [])

    def scan(self, projection: Sequence[str] = (), condition: Condition | None = None) -> Iterator[dict[str, Any]]:
        """Every item of the table (filtered by ``condition`` after reading), with a consistent Scan, page by page."""
        request: dict[str, Any] = {"ConsistentRead": True, **_projection(projection)}
        if condition is not None:
            _operands(request, condition[1], FilterExpression=condition[0])
        while True:
            answer = self._call("scan", **request)
            yield from map(plain, answer.get("Items", []))
            if not answer.get("LastEvaluatedKey"):
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def put(self, item: Mapping[str, Any], condition: Condition | None = None) -> None:
        """Write a whole item; a failed ``condition`` raises ``ConditionFailed``."""
        self._call("put_item", condition, Item=typed(item))

    def put_new(self, items: Sequence[Mapping[str, Any]]) -> bool:
        """Put up to 100 items in one transaction, each only if its key has none; False (none written) if any had."""
        from botocore.exceptions import ClientError

        absent = {"ConditionExpression": "attribute_not_exists(booking_id)"}
        puts = [{"Put": {"TableName": self.table_name, "Item": typed(item), **absent}} for item in items]
        try:
            self.client.transact_write_items(TransactItems=puts)  # type: ignore[arg-type]
        except ClientError as exc:
            if aws_error_code(exc) != "TransactionCanceledException":
                raise
            return False
        return True

    def update(
        self,
        booking_id: str,
        values: Mapping[str, Any],
        *,
        add: Mapping[str, Any] | None = None,
        if_absent: Mapping[str, Any] | None = None,
        condition: Condition | None = None,
        return_new: bool = False,
    ) -> dict[str, Any]:
        """One UpdateItem that sets only ``values`` (``if_absent``: only where the attribute has none) and adds
        ``add`` (a number, or a string set: atomic, so parallel writers lose nothing); other attributes are other
        writers'. A failed ``condition`` raises ``ConditionFailed``; ``return_new``: the item as written."""
        kinds = [("set", values), ("absent", if_absent or {}), ("add", add or {})]
        pairs = [(kind, name, value) for kind, given in kinds for name, value in given.items()]
        if not pairs:
            return {}
        clauses: dict[str, list[str]] = {"SET": [], "ADD": []}
        for i, (kind, _, _) in enumerate(pairs):
            clauses["ADD" if kind == "add" else "SET"].append(_CLAUSES[kind].format(i=i))
        expression = " ".join(f"{verb} {', '.join(parts)}" for verb, parts in clauses.items() if parts)
        request = {"Key": typed({"booking_id": booking_id}), "UpdateExpression": expression}
        if return_new:
            request["ReturnValues"] = "ALL_NEW"
        operands = {f"#a{i}": name for i, (_, name, _) in enumerate(pairs)}
        _operands(request, {**operands, **{f":v{i}": value for i, (_, _, value) in enumerate(pairs)}})
        return plain(self._call("update_item", condition, **request).get("Attributes") or {})

    def _call(self, operation: str, condition: Condition | None = None, **request: Any) -> dict[str, Any]:
        """One call of ``operation`` on the table; a failed ``condition`` raises ``ConditionFailed``."""
        from botocore.exceptions import ClientError

        if condition is not None:
            _operands(request, condition[1], ConditionExpression=condition[0])
        try:
            return dict(getattr(self.client, operation)(TableName=self.table_name, **request))
        except ClientError as exc:
            if condition is not None and aws_error_code(exc) == "ConditionalCheckFailedException":
                raise ConditionFailed(operation) from None
            raise

    def test_connection(self) -> tuple[bool, str]:
        """Check that the ledger table exists and is reachable with this connection."""
        try:
            self.client.describe_table(TableName=self.table_name)
        except Exception as exc:  # any failure is the answer test_connection reports
            return False, f"ledger table {self.table_name!r}: {type(exc).__name__}"
        return True, f"ledger table {self.table_name!r} is reachable"


def _projection(names: Sequence[str]) -> dict[str, Any]:
    """Only these attributes; through placeholders, since some ("state", "snapshot") are DynamoDB reserved words."""
    placeholders = {f"#p{number}": name for number, name in enumerate(names)}
    return {"ProjectionExpression": ", ".join(placeholders), "ExpressionAttributeNames": placeholders} if names else {}


def _operands(request: dict[str, Any], operands: Mapping[str, Any], **expression: str) -> None:
    """Add an expression, and its ``#`` names and ``:`` values (typed here), to a request's own."""
    request.update(expression)
    names = {k: v for k, v in operands.items() if k.startswith("#")}
    values = typed({k: v for k, v in operands.items() if k.startswith(":")})
    if names:
        request["ExpressionAttributeNames"] = {**request.get("ExpressionAttributeNames", {}), **names}
    if values:
        request["ExpressionAttributeValues"] = {**request.get("ExpressionAttributeValues", {}), **values}
