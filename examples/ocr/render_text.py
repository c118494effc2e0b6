#!/usr/bin/env python3
"""render_text.py — draw lines of text to a PNG (black on white, DejaVu Sans) for trying the
OCR example: python3 render_text.py out.png "Hello World 2024" "second line".
Needs Debian's python3-pil and fonts-dejavu-core."""
import sys

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def render(path, lines, size=32, margin=24, gap=20):
    font = ImageFont.truetype(FONT, size)
    boxes = [font.getbbox(t) for t in lines]
    w = max(b[2] for b in boxes) + 2 * margin
    h = sum(size for _ in lines) + gap * (len(lines) - 1) + 2 * margin + size // 2
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    y = margin
    for t in lines:
        d.text((margin, y), t, fill="black", font=font)
        y += size + gap
    img.save(path)
    return img.size


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    print("%s: %dx%d" % ((sys.argv[1],) + render(sys.argv[1], sys.argv[2:])))
