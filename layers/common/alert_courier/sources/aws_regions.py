"""AWS region codes from the display names CloudWatch writes in an alarm message's `Region` ("EU (Ireland)")."""

from __future__ import annotations

import re

_BY_PLACE = {
    "us east (n. virginia)": "us-east-1",
    "us east (ohio)": "us-east-2",
    "us west (n. california)": "us-west-1",
    "us west (oregon)": "us-west-2",
    "africa (cape town)": "af-south-1",
    "asia pacific (hong kong)": "ap-east-1",
    "asia pacific (taipei)": "ap-east-2",
    "asia pacific (tokyo)": "ap-northeast-1",
    "asia pacific (seoul)": "ap-northeast-2",
    "asia pacific (osaka)": "ap-northeast-3",
    "asia pacific (osaka-local)": "ap-northeast-3",
    "asia pacific (mumbai)": "ap-south-1",
    "asia pacific (hyderabad)": "ap-south-2",
    "asia pacific (singapore)": "ap-southeast-1",
    "asia pacific (sydney)": "ap-southeast-2",
    "asia pacific (jakarta)": "ap-southeast-3",
    "asia pacific (melbourne)": "ap-southeast-4",
    "asia pacific (malaysia)": "ap-southeast-5",
    "asia pacific (new zealand)": "ap-southeast-6",
    "asia pacific (thailand)": "ap-southeast-7",
    "canada (central)": "ca-central-1",
    "canada west (calgary)": "ca-west-1",
    "china (beijing)": "cn-north-1",
    "china (ningxia)": "cn-northwest-1",
    "europe (frankfurt)": "eu-central-1",
    "europe (zurich)": "eu-central-2",
    "europe (stockholm)": "eu-north-1",
    "europe (milan)": "eu-south-1",
    "europe (spain)": "eu-south-2",
    "europe (ireland)": "eu-west-1",
    "europe (london)": "eu-west-2",
    "europe (paris)": "eu-west-3",
    "israel (tel aviv)": "il-central-1",
    "middle east (uae)": "me-central-1",
    "middle east (bahrain)": "me-south-1",
    "mexico (central)": "mx-central-1",
    "south america (sao paulo)": "sa-east-1",
    "south america (são paulo)": "sa-east-1",
    "aws govcloud (us-east)": "us-gov-east-1",
    "aws govcloud (us-west)": "us-gov-west-1",
    "aws govcloud (us)": "us-gov-west-1",
}
_CODE = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]")


def region_code(display_name: str) -> str | None:
    """ "EU (Ireland)" or "Europe (Ireland)" -> "eu-west-1"; a code is returned as is; None if unknown."""
    name = " ".join(display_name.split()).lower()[:64]
    if _CODE.fullmatch(name):
        return name
    if name.startswith("eu ("):  # CloudWatch wrote "EU (...)" before AWS renamed them "Europe (...)"
        name = "europe" + name[2:]
    return _BY_PLACE.get(name)


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"
