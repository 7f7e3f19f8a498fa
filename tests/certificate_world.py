"""Reading a certificate back as a person would: the PDF's text, and its QR code decoded."""

from __future__ import annotations

import io

import pypdf
import zxingcpp
from PIL import Image


def pdf_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def pdf_pages(pdf: bytes) -> int:
    return len(pypdf.PdfReader(io.BytesIO(pdf)).pages)


def page_size_mm(pdf: bytes) -> tuple[int, int]:
    box = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].mediabox
    return round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)


def embedded_fonts(pdf: bytes) -> set[str]:
    """The fonts whose program is inside the PDF (FontFile2: TrueType, subsetted)."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    found = set()
    fonts = reader.pages[0]["/Resources"]["/Font"]
    for ref in fonts.values():
        font = ref.get_object()
        for descendant in font.get("/DescendantFonts", [font]):
            descriptor = descendant.get_object().get("/FontDescriptor")
            if descriptor and any(
                k in descriptor.get_object() for k in ("/FontFile2", "/FontFile3")
            ):
                found.add(str(font["/BaseFont"]))
    return found


def qr_codes(pdf: bytes) -> list[str]:
    """Every QR code among the PDF's images, decoded (the image as drawn, scaled up)."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    texts = []
    for image in reader.pages[0].images:
        picture = image.image
        if picture is None:
            continue
        grey = picture.convert("L")
        big = grey.resize((grey.width * 8, grey.height * 8), Image.Resampling.NEAREST)
        texts.extend(code.text for code in zxingcpp.read_barcodes(big))
    return texts


def image_count(pdf: bytes) -> int:
    return len(pypdf.PdfReader(io.BytesIO(pdf)).pages[0].images)
