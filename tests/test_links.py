"""The link parser: every usual form in, the canonical URL out; anything else refused with a reason."""

from __future__ import annotations

import pytest

from rooms_server.sources import SourceError
from rooms_server.sources.links import detect_service, parse_link

SID = "4uLU6hMCjMI75M1A2tKUQC"
YID = "dQw4w9WgXcQ"


@pytest.mark.parametrize(
    "link",
    [
        f"https://open.spotify.com/track/{SID}",
        f"https://open.spotify.com/track/{SID}?si=a1b2c3d4e5f6",
        f"https://open.spotify.com/intl-de/track/{SID}",
        f"https://open.spotify.com/intl-pt-BR/track/{SID}?si=x&context=y",
        f"http://open.spotify.com/track/{SID}/",
        f"open.spotify.com/track/{SID}",
        f"HTTPS://OPEN.SPOTIFY.COM/track/{SID}",
        f"https://open.spotify.com/embed/track/{SID}",
        f"https://play.spotify.com/track/{SID}",
        f"spotify:track:{SID}",
        f"  spotify:track:{SID}\n",
    ],
)
def test_links_spotify_forms_become_the_canonical_url(link: str) -> None:
    parsed = parse_link("spotify", link)
    assert parsed.item_id == SID
    assert parsed.url == f"https://open.spotify.com/track/{SID}"


@pytest.mark.parametrize(
    "link",
    [
        f"https://www.youtube.com/watch?v={YID}",
        f"https://youtube.com/watch?v={YID}&t=42s",
        f"https://m.youtube.com/watch?v={YID}&list=PLx&index=3",
        f"https://music.youtube.com/watch?v={YID}&list=RDAMVM{YID}",
        f"https://www.youtube.com/watch?feature=share&v={YID}",
        f"https://youtu.be/{YID}",
        f"https://youtu.be/{YID}?si=abc&t=90",
        f"youtu.be/{YID}",
        f"https://www.youtube.com/shorts/{YID}",
        f"https://www.youtube.com/embed/{YID}?start=30",
        f"https://www.youtube.com/live/{YID}",
        f"https://www.youtube-nocookie.com/embed/{YID}",
    ],
)
def test_links_youtube_forms_become_the_canonical_url(link: str) -> None:
    parsed = parse_link("youtube", link)
    assert parsed.item_id == YID
    assert parsed.url == f"https://www.youtube.com/watch?v={YID}"


@pytest.mark.parametrize(
    ("service", "link", "code"),
    [
        ("spotify", f"https://open.spotify.com.evil.com/track/{SID}", "invalid_link"),
        ("spotify", f"https://evil.com/open.spotify.com/track/{SID}", "invalid_link"),
        ("spotify", f"https://open.spotify.com@evil.com/track/{SID}", "invalid_link"),
        ("spotify", f"https://user@open.spotify.com/track/{SID}", "invalid_link"),
        ("spotify", f"ftp://open.spotify.com/track/{SID}", "invalid_link"),
        ("spotify", f"javascript:alert(1)//open.spotify.com/track/{SID}", "invalid_link"),
        ("spotify", "https://open.spotify.com/track/short", "invalid_link"),
        ("spotify", f"https://open.spotify.com/track/{SID}x", "invalid_link"),
        ("spotify", f"https://open.spotify.com/track/{SID}/extra", "invalid_link"),
        ("spotify", "spotify:track:", "invalid_link"),
        ("spotify", "https://open.spotify.com/", "invalid_link"),
        ("spotify", f"https://open.spotify.com/album/{SID}", "unsupported_link"),
        ("spotify", f"https://open.spotify.com/playlist/{SID}?si=1", "unsupported_link"),
        ("spotify", f"https://open.spotify.com/artist/{SID}", "unsupported_link"),
        ("spotify", f"spotify:album:{SID}", "unsupported_link"),
        ("spotify", "https://spotify.link/AbCdEf", "unsupported_link"),
        ("spotify", f"https://youtu.be/{YID}", "invalid_link"),
        ("youtube", f"https://www.youtube.com.evil.com/watch?v={YID}", "invalid_link"),
        ("youtube", f"https://notyoutube.com/watch?v={YID}", "invalid_link"),
        ("youtube", "https://www.youtube.com/watch?v=short", "invalid_link"),
        ("youtube", f"https://www.youtube.com/watch?v={YID}!", "invalid_link"),
        ("youtube", "https://www.youtube.com/watch", "invalid_link"),
        ("youtube", f"https://youtu.be/{YID}/more", "invalid_link"),
        ("youtube", "https://www.youtube.com/playlist?list=PLrAXtmErZgOeiKm4sgNOknGvNjby9efdf", "unsupported_link"),
        ("youtube", "https://www.youtube.com/watch?list=PLrAXtmErZgOeiKm4sgNOknGvNjby9efdf", "unsupported_link"),
        ("youtube", "https://www.youtube.com/@somechannel", "unsupported_link"),
        ("youtube", f"spotify:track:{SID}", "invalid_link"),
        ("youtube", "not a link at all", "invalid_link"),
        ("youtube", "https://[::1", "invalid_link"),
        ("youtube", f"https://www.youtube.com:99999/watch?v={YID}", "invalid_link"),
    ],
)
def test_links_refuse_with_a_clear_code(service: str, link: str, code: str) -> None:
    with pytest.raises(SourceError) as refused:
        parse_link(service, link)
    assert refused.value.code == code and refused.value.message


def test_links_name_the_right_service_for_a_mixup() -> None:
    with pytest.raises(SourceError, match="service 'youtube'"):
        parse_link("spotify", f"https://youtu.be/{YID}")
    assert detect_service(f"spotify:track:{SID}") == "spotify"
    assert detect_service(f"https://music.youtube.com/watch?v={YID}") == "youtube"
    assert detect_service("https://example.com") is None
