"""``bird-recordings archive``: the real command against the emulator (and moto, redis)."""

from __future__ import annotations

import json
from pathlib import Path

from bird_recordings.emulator import BirdEmulator
from tests.cli.conftest import Runner
from tests.services import MotoServer, free_port


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")}


async def test_run_archives_then_status_reports_it(
    run: Runner, emu: BirdEmulator, tmp_path: Path
) -> None:
    out = tmp_path / "archive"
    result = await run("archive", "run", "--since", "31d", "--shard", "1w", "--to", str(out))
    assert result.returncode == 0, result.stderr
    available = {rid for rid, r in emu.recordings.items() if r.status == "available"}
    assert _files(out) == {f"{rid}.mp3" for rid in available} | {f"{rid}.json" for rid in available}
    assert f"{len(available)} archived" in result.stdout

    again = await run(
        "archive", "run", "--since", "31d", "--shard", "1w", "--to", str(out), "--json"
    )
    assert again.returncode == 0
    summary = again.json_lines()[-1]["summary"]
    assert summary["archived"] == 0
    assert summary["skipped"] == len(available)

    status = await run("archive", "status", "--to", str(out), "--json")
    assert status.returncode == 0
    (line,) = status.json_lines()
    # Two runs a moment apart share their inner shards (their clipped ends may differ).
    assert line["done"] == line["shards"] >= 5
    assert line["archived"] + line["skipped"] >= len(available)
    assert line["running"] == line["failed"] == 0


async def test_since_after_until_is_one_line_and_writes_nothing(
    run: Runner, tmp_path: Path
) -> None:
    out = tmp_path / "never"
    result = await run(
        "archive", "run", "--since", "2026-02-01", "--until", "2026-01-01", "--to", str(out)
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "must be before until" in result.stderr
    assert not out.exists()


async def test_an_unreachable_broker_is_exit_69_and_sends_nothing(
    run: Runner, tmp_path: Path
) -> None:
    out = tmp_path / "archive"
    broker = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    result = await run("archive", "submit", "--since", "2d", "--to", str(out), "--broker", broker)
    assert result.returncode == 69, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "cannot reach the broker" in line
    assert "hunter2" not in result.stderr
    assert not list((out / ".archive-status").glob("*.json"))


async def test_a_missing_or_unreachable_bucket_is_exit_69(
    run: Runner, moto_server: MotoServer, tmp_path: Path
) -> None:
    env = run.env() | moto_server.env()
    missing = await run(
        "archive", "run", "--since", "2d", "--to", "s3://no-such-bucket-x/calls", env=env
    )
    assert missing.returncode == 69
    assert "no such bucket" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    closed = env | {
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{free_port()}",
        "AWS_MAX_ATTEMPTS": "1",
    }
    unreachable = await run("archive", "run", "--since", "2d", "--to", "s3://bucket-y", env=closed)
    assert unreachable.returncode == 69
    assert "could not write to the bucket" in unreachable.stderr
    assert moto_server.secret_key not in unreachable.stderr


async def test_status_of_a_sink_without_an_archive(run: Runner, tmp_path: Path) -> None:
    result = await run("archive", "status", "--to", str(tmp_path), "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["shards"] == 0


async def test_a_bucket_we_may_not_write_is_exit_77_and_holds_nothing(run: Runner) -> None:
    import boto3

    from tests.services import moto_server

    # moto enforces IAM after the first four requests: a bucket, and a user who may only read.
    with moto_server({"INITIAL_NO_AUTH_ACTION_COUNT": "4"}) as moto:
        root = moto.client_kwargs()
        boto3.client("s3", **root).create_bucket(Bucket="locked")
        iam = boto3.client("iam", **root)
        iam.create_user(UserName="reader")
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": "*"}
            ],
        }
        iam.put_user_policy(
            UserName="reader", PolicyName="read-only", PolicyDocument=json.dumps(policy)
        )
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        env = (
            run.env()
            | moto.env()
            | {
                "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            }
        )
        result = await run("archive", "run", "--since", "2d", "--to", "s3://locked/calls", env=env)
        assert result.returncode == 77
        (line,) = result.stderr.strip().splitlines()
        assert "AccessDenied" in line
        assert key["SecretAccessKey"] not in result.stderr
        reader = boto3.client(
            "s3",
            endpoint_url=moto.endpoint_url,
            region_name=moto.region,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        assert reader.list_objects_v2(Bucket="locked").get("KeyCount") == 0


async def test_a_folder_that_cannot_be_written_is_exit_74(run: Runner, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = await run("archive", "run", "--since", "2d", "--to", str(blocker / "archive"))
    assert result.returncode == 74
    assert len(result.stderr.strip().splitlines()) == 1
