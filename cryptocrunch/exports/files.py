"""Writing an export: a frame as CSV or Parquet, atomically into a folder or whole-or-nothing to S3
(boto3, imported only when an export goes there). Failures raise ``ExportError`` saying what to do."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .specs import CONTENT_TYPES, S3Location

if TYPE_CHECKING:
    import pandas as pd


class ExportError(Exception):
    """An export failed and wrote nothing; the message says what failed and what to do."""


def write_frame(frame: pd.DataFrame, fmt: str, handle: BinaryIO) -> None:
    """Write ``frame`` as CSV (header, no index, empty cells for missing values) or Parquet."""
    if fmt == "csv":
        frame.to_csv(handle, index=False, lineterminator="\n")
    else:
        frame.to_parquet(handle, index=False, engine="pyarrow")


def write_local(frame: pd.DataFrame, fmt: str, folder: Path, name: str) -> Path:
    """Write ``folder/name`` atomically: a temporary file in the same folder, renamed when complete,
    so readers never see half a file and a failure leaves nothing."""
    final = folder / name
    partial = folder / f".{name}.{secrets.token_hex(4)}.part"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(partial, "xb") as handle:
            write_frame(frame, fmt, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, final)
    except OSError as error:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise ExportError(
            f"cannot write {final}: {error.strerror or error}; make {folder} writable or pick another --to"
        ) from None
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise
    return final


def s3_client(config: Mapping[str, Any]) -> Any:
    """An S3 client for EXPORT_S3_ENDPOINT_URL and EXPORT_S3_REGION; unset, boto3's standard chain
    decides (AWS_ENDPOINT_URL, AWS_DEFAULT_REGION, ~/.aws/config). Credentials come from that chain
    only (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role)."""
    import boto3  # only S3 exports pay for importing boto3
    from botocore.config import Config

    endpoint = config["EXPORT_S3_ENDPOINT_URL"]
    # LocalStack and MinIO expect the bucket in the path, not in the host name.
    settings = Config(s3={"addressing_style": "path"}) if endpoint else None
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=config["EXPORT_S3_REGION"], config=settings
    )


def _boto_cause(error: BaseException) -> BaseException:
    """The botocore error behind ``error`` (boto3's S3UploadFailedError hides the ClientError)."""
    from botocore.exceptions import BotoCoreError, ClientError

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, BotoCoreError | ClientError):
            cause: BaseException = seen
            return cause
        seen = seen.__cause__ or seen.__context__
    return error


ACCESS_DENIED = frozenset(
    {"AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}
)


def explain_s3_error(error: BaseException, url: str, bucket: str, endpoint: str) -> str:
    """What failed uploading to ``url`` and what to do about it."""
    from botocore.exceptions import ClientError, HTTPClientError, NoCredentialsError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    cause = _boto_cause(error)
    if isinstance(cause, ClientError):
        code = cause.response.get("Error", {}).get("Code", "")
        status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = cause.response.get("Error", {}).get("Message", "")
        if code == "NoSuchBucket":
            return (
                f"cannot upload {url}: bucket {bucket!r} does not exist at {endpoint}; "
                f"create it (aws s3 mb s3://{bucket}) or fix the bucket in --to"
            )
        if code in ACCESS_DENIED or status == 403:
            return (
                f"cannot upload {url}: access denied ({code or status}: {message}); check the AWS "
                "credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and that "
                f"they may s3:PutObject in {bucket}"
            )
        return (
            f"cannot upload {url}: {cause.operation_name} failed with {code} (HTTP {status}): {message}; "
            "run the export again"
        )
    if isinstance(cause, NoCredentialsError):
        return (
            f"cannot upload {url}: no AWS credentials found; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
        )
    if isinstance(cause, BotoConnectionError | HTTPClientError):
        return (
            f"cannot upload {url}: S3 endpoint {endpoint} unreachable ({cause}); check "
            "EXPORT_S3_ENDPOINT_URL (or AWS_ENDPOINT_URL) and the network"
        )
    return f"cannot upload {url}: {type(cause).__name__}: {cause}"


def _abort_unfinished(client: Any, bucket: str, key: str) -> str:
    """Abort any multipart upload of ``key`` a failure left behind (s3transfer aborts its own, but
    that abort can fail too); return a note for the error message when it cannot be checked."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        listing = client.list_multipart_uploads(Bucket=bucket, Prefix=key)
        for upload in listing.get("Uploads", []):
            if upload["Key"] == key:
                client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return ""
        return _unchecked_note(bucket, key)
    except BotoCoreError:
        return _unchecked_note(bucket, key)
    return ""


def _unchecked_note(bucket: str, key: str) -> str:
    return (
        f" (an unfinished multipart upload may be left: aws s3api list-multipart-uploads --bucket "
        f"{bucket} --prefix {key} shows it, abort-multipart-upload removes it)"
    )


def upload(frame: pd.DataFrame, fmt: str, target: S3Location, name: str, config: Mapping[str, Any]) -> str:
    """Upload ``frame`` as ``name`` under ``target``; return its s3:// URL (``upload_file``)."""
    with tempfile.TemporaryDirectory(prefix="cryptocrunch-export-") as folder:
        path = Path(folder) / name
        with open(path, "wb") as handle:
            write_frame(frame, fmt, handle)
        return upload_file(path, target, name, CONTENT_TYPES[fmt], config)


def upload_file(
    path: Path, target: S3Location, name: str, content_type: str, config: Mapping[str, Any]
) -> str:
    """Upload the file ``path`` as ``name`` under ``target``; return its s3:// URL. An S3 object
    appears whole or not at all; a failed multipart upload is aborted, so a failure leaves nothing."""
    from boto3.exceptions import Boto3Error
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import BotoCoreError, ClientError

    key = target.key(name)
    url = f"s3://{target.bucket}/{key}"
    endpoint = config["EXPORT_S3_ENDPOINT_URL"] or "AWS S3"
    threshold = int(config["EXPORT_S3_MULTIPART_THRESHOLD"])
    client = None
    try:
        client = s3_client(config)
        endpoint = client.meta.endpoint_url
        client.upload_file(
            str(path),
            target.bucket,
            key,
            ExtraArgs={"ContentType": content_type},
            Config=TransferConfig(multipart_threshold=threshold),
        )
    except (BotoCoreError, ClientError, Boto3Error, ValueError) as error:
        multipart = client is not None and path.stat().st_size >= threshold
        note = _abort_unfinished(client, target.bucket, key) if multipart else ""
        raise ExportError(explain_s3_error(error, url, target.bucket, endpoint) + note) from None
    return url


def download_file(url: str, into: Path, config: Mapping[str, Any]) -> Path:
    """Download the object ``s3://bucket/key`` into the folder ``into``; the file's path.
    ExportError naming the object when it is missing or unreadable."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    from .specs import destination

    target = destination(url, str(into))  # ValueError for a malformed URL
    if not isinstance(target, S3Location) or not target.prefix:
        raise ValueError(f"{url!r} names no object: write s3://bucket/path/to/file")
    endpoint = config["EXPORT_S3_ENDPOINT_URL"] or "AWS S3"
    path = into / target.prefix.rsplit("/", 1)[-1]
    try:
        client = s3_client(config)
        endpoint = client.meta.endpoint_url
        client.download_file(target.bucket, target.prefix, str(path))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            raise ExportError(f"{url}: no such object") from None
        raise ExportError(explain_s3_error(error, url, target.bucket, endpoint)) from None
    except (BotoCoreError, Boto3Error, ValueError) as error:
        raise ExportError(explain_s3_error(error, url, target.bucket, endpoint)) from None
    return path
