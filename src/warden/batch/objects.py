"""The JSON objects of OpenAI's Files and Batch APIs, exactly as the `openai` client parses
them (openai.types.FileObject, openai.types.Batch). Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from warden.batch.files import FileInfo
from warden.batch.jobs import JobInfo, Progress, aware


def unix(ts: datetime | None) -> int | None:
    return None if ts is None else int(aware(ts).timestamp())


def file_object(info: FileInfo) -> dict[str, Any]:
    return {"id": info.id, "object": "file", "bytes": info.bytes,
            "created_at": unix(info.created_at), "filename": info.filename,
            "purpose": info.purpose, "status": "processed", "expires_at": None,
            "status_details": None}


def batch_object(job: JobInfo, progress: Progress, model: str | None = None
                 ) -> dict[str, Any]:
    errors = {"object": "list", "data": job.errors} if job.errors else None
    return {
        "id": job.id, "object": "batch", "endpoint": job.endpoint, "errors": errors,
        "input_file_id": job.input_file_id, "completion_window": job.completion_window,
        "status": job.status, "output_file_id": job.output_file_id,
        "error_file_id": job.error_file_id, "created_at": unix(job.created_at),
        "in_progress_at": unix(job.in_progress_at), "expires_at": unix(job.expires_at),
        "finalizing_at": unix(job.finalizing_at), "completed_at": unix(job.completed_at),
        "failed_at": unix(job.failed_at), "expired_at": unix(job.expired_at),
        "cancelling_at": unix(job.cancelling_at), "cancelled_at": unix(job.cancelled_at),
        "request_counts": {"total": job.total_lines, "completed": progress.completed,
                           "failed": progress.failed},
        "usage": {"input_tokens": progress.prompt_tokens,
                  "input_tokens_details": {"cached_tokens": progress.cached_tokens},
                  "output_tokens": progress.completion_tokens,
                  "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": progress.prompt_tokens + progress.completion_tokens},
        "metadata": job.meta, "model": model,
    }


def page(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """OpenAI's cursor page: the client follows `last_id` while `has_more`."""
    return {"object": "list", "data": items,
            "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None, "has_more": has_more}
