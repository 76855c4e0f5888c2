"""Institutions, buildings and points: read within the caller's institutions; written by
engineers (their buildings and points) and admins (institutions too), through the same
checks as ``jieneng registry import``."""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Body, HTTPException, Query, Request, Response, status

from api.deps import Admin, Db, Engineer, Viewer, not_found
from api.models import Building, Imported, Institution, Point, RegistryDocument
from store import RegistryError, reads, registry, registry_import
from store.tokens import Principal

router = APIRouter(tags=["registry"])


def _codes(conn: psycopg.Connection, caller: Principal) -> list[str] | None:
    """The institution codes a caller may write (None: all)."""
    if caller.scope is None:
        return None
    return [i["code"] for i in reads.institutions(conn, caller.scope)]


def _import(conn: psycopg.Connection, caller: Principal, document: dict[str, Any]) -> Imported:
    try:
        counts = registry_import.import_document(conn, document, institutions=_codes(conn, caller))
    except RegistryError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return Imported(counts=counts)


@router.get("/institutions", response_model=list[Institution])
def list_institutions(conn: Db, caller: Viewer) -> list[dict[str, Any]]:
    return reads.institutions(conn, caller.scope)


@router.get("/institutions/{code}", response_model=Institution)
def get_institution(code: str, conn: Db, caller: Viewer) -> dict[str, Any]:
    row = reads.institution(conn, caller.scope, code)
    if row is None:
        raise not_found(f"institution {code!r}")
    return row


@router.put("/institutions/{code}", response_model=Imported)
def put_institution(
    code: str, body: Annotated[dict[str, Any], Body()], conn: Db, caller: Admin
) -> Imported:
    """Create or update an institution (fields as in the registry file)."""
    return _import(conn, caller, {"institutions": [{**body, "code": code}]})


@router.get("/buildings", response_model=list[Building])
def list_buildings(
    conn: Db, caller: Viewer, institution: Annotated[str | None, Query()] = None
) -> list[dict[str, Any]]:
    return reads.buildings(conn, caller.scope, institution=institution)


@router.get("/buildings/{code}", response_model=Building)
def get_building(code: str, conn: Db, caller: Viewer) -> dict[str, Any]:
    row = reads.building(conn, caller.scope, code)
    if row is None:
        raise not_found(f"building {code!r}")
    return row


@router.put("/buildings/{code}", response_model=Imported)
def put_building(
    code: str, body: Annotated[dict[str, Any], Body()], conn: Db, caller: Engineer
) -> Imported:
    """Create or update a building of one of the caller's institutions (the whole row:
    fields left out are stored empty, as in the registry file)."""
    if caller.scope is not None and reads.building(conn, None, code) is not None:
        if reads.building(conn, caller.scope, code) is None:
            raise not_found(f"building {code!r}")  # another institution's: as if unknown
    return _import(conn, caller, {"buildings": [{**body, "code": code}]})


@router.get("/points", response_model=list[Point])
def list_points(
    conn: Db, caller: Viewer, building: Annotated[str | None, Query()] = None
) -> list[dict[str, Any]]:
    return reads.points(conn, caller.scope, building=building)


@router.get("/point", response_model=Point)
def get_point(key: Annotated[str, Query(max_length=200)], conn: Db, caller: Viewer) -> dict:
    """One point by its key (keys hold slashes: a query parameter, not a path)."""
    row = reads.point(conn, caller.scope, key)
    if row is None:
        raise not_found(f"point {key!r}")
    return row


@router.put("/point", response_model=Imported)
def put_point(
    key: Annotated[str, Query(max_length=200)],
    body: Annotated[dict[str, Any], Body()],
    conn: Db,
    caller: Engineer,
) -> Imported:
    """Create or update a point of one of the caller's buildings."""
    if caller.scope is not None and reads.point(conn, None, key) is not None:
        if reads.point(conn, caller.scope, key) is None:
            raise not_found(f"point {key!r}")
    return _import(conn, caller, {"points": [{**body, "key": key}]})


@router.post("/registry/import", response_model=Imported)
async def bulk_import(request: Request, caller: Engineer) -> Imported:
    """Import a registry document: JSON (the file's layout), or a YAML or CSV file as the
    body with its name in ``?filename=`` (e.g. ``points.csv``). One transaction: any invalid
    row and nothing is written; every row must belong to the caller's institutions."""
    body = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    filename = request.query_params.get("filename")
    pool = request.app.state.pool

    def run() -> Imported:
        with pool.connection() as conn:
            codes = _codes(conn, caller)
            try:
                if kind == "application/json" and filename is None:
                    import orjson

                    try:
                        document = RegistryDocument.model_validate(orjson.loads(body))
                    except (orjson.JSONDecodeError, ValueError) as exc:
                        raise HTTPException(
                            status.HTTP_422_UNPROCESSABLE_CONTENT, f"body: {exc}"
                        ) from None
                    counts = registry_import.import_document(
                        conn, document.model_dump(exclude_defaults=True), institutions=codes
                    )
                else:
                    if not filename:
                        raise HTTPException(
                            status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "filename: give the file's name (registry.yaml, points.csv …)",
                        )
                    counts = registry_import.import_bytes(conn, filename, body, institutions=codes)
            except RegistryError as exc:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        return Imported(counts=counts)

    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(run)


def _deleted(delete: Any, what: str) -> Response:
    """204, 404 when gone already, 409 when something still refers to it (nothing is deleted
    in a cascade: readings are never lost through the API)."""
    try:
        done = delete()
    except registry.StillReferred:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{what} is still referred to (buildings, points, readings, findings, contracts …):"
            " remove or replace those first",
        ) from None
    if not done:
        raise not_found(what)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/institutions/{code}", status_code=204, response_class=Response)
def delete_institution(code: str, conn: Db, caller: Admin) -> Response:
    """Delete an institution without buildings (admin)."""
    if reads.institution(conn, caller.scope, code) is None:
        raise not_found(f"institution {code!r}")
    return _deleted(lambda: registry.delete_institution(conn, code), f"institution {code!r}")


@router.delete("/buildings/{code}", status_code=204, response_class=Response)
def delete_building(code: str, conn: Db, caller: Admin) -> Response:
    """Delete a building without points (admin)."""
    if reads.building(conn, caller.scope, code) is None:
        raise not_found(f"building {code!r}")
    return _deleted(lambda: registry.delete_building(conn, code), f"building {code!r}")


@router.delete("/point", status_code=204, response_class=Response)
def delete_point(
    key: Annotated[str, Query(max_length=200)], conn: Db, caller: Engineer
) -> Response:
    """Delete a point that never read (a mistyped one; a meter that read is replaced, not
    deleted: ``meter_replacements``)."""
    p = reads.point(conn, caller.scope, key)
    if p is None:
        raise not_found(f"point {key!r}")
    return _deleted(lambda: registry.delete_point(conn, p["id"]), f"point {key!r}")
