"""The data preview as HTML: the split's facts, a grid of samples with their labels (or a CSV's
first rows), the class balance, and the files skipped and why (``workbench.data.describe``
gathers them; this module only draws them, every string escaped).

Example:
    >>> from workbench.data import describe, load_digits_task
    >>> "wb-samples" in preview_html(describe(load_digits_task()))
    True
"""

from __future__ import annotations

import base64
import io

from widgets.common import escape, frame_html

SHOWN_SKIPPED = 5
SAMPLE_PIXELS = 64


def preview_html(preview) -> str:
    """The preview of one dataset (a ``workbench.data.DataPreview``)."""
    parts = [f"<h4>Data: {escape(preview.name)} ({escape(preview.kind)})</h4>",
             "<ul class='wb-facts'>" + "".join(f"<li>{escape(fact)}</li>"
                                              for fact in preview.facts) + "</ul>"]
    if preview.samples:
        parts.append(_sample_grid(preview.samples))
    if preview.head is not None:
        parts.append(f"<p>First {len(preview.head)} rows:</p>"
                     + frame_html(preview.head, "wb-table wb-head"))
    if preview.balance is not None:
        parts.append("<p>Class balance (samples per class and split):</p>"
                     + frame_html(preview.balance.reset_index(), "wb-table wb-balance"))
    parts.append(_skipped_html(preview))
    return "<div class='wb-preview'>" + "".join(parts) + "</div>"


def _sample_grid(samples) -> str:
    figures = "".join(
        f"<figure style='margin:0.2rem;text-align:center'><img class='wb-sample' "
        f"alt='{escape(sample.label)}' src='data:image/png;base64,{_png(sample.image)}' "
        f"style='image-rendering:pixelated'><figcaption>{escape(sample.label)}</figcaption>"
        "</figure>" for sample in samples)
    return ("<p>Samples with their labels:</p><div class='wb-samples' style='display:flex;"
            f"flex-wrap:wrap'>{figures}</div>")


def _png(image) -> str:
    """A uint8 image as base64 PNG, enlarged (nearest neighbour) so tiny images can be seen."""
    from PIL import Image

    picture = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    scale = max(1, SAMPLE_PIXELS // max(picture.size))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale),
                                 Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _skipped_html(preview) -> str:
    if not preview.skipped:
        return "<p class='wb-skipped'>No files skipped.</p>" if preview.kind == "image folder" \
            else ""
    reasons = ", ".join(f"{count} {escape(why)}" for why, count in
                        preview.skipped_reasons().most_common())
    files = "".join(f"<li><code>{escape(path)}</code>: {escape(why)}</li>"
                    for path, why in preview.skipped[:SHOWN_SKIPPED])
    more = len(preview.skipped) - SHOWN_SKIPPED
    files += f"<li>and {more} more</li>" if more > 0 else ""
    return (f"<p class='wb-skipped'>{len(preview.skipped)} file(s) skipped ({reasons}):</p>"
            f"<ul>{files}</ul>")
