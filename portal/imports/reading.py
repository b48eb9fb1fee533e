"""Reading an uploaded CSV file: its encoding (UTF-8 with or without BOM, UTF-16 with BOM as
spreadsheets save "Unicode text", else Windows-1252/Latin-1), its delimiter, its header and its
rows. Plain functions over a local file, run off the event loop."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from portal.core.errors import ValidationError
from portal.core.forms import without_control_characters

SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")
MAX_CELL_CHARS = 10_000
MAX_COLUMNS = 200
MAX_ROWS = 500_000

csv.field_size_limit(MAX_CELL_CHARS)


@dataclass(frozen=True)
class CsvFormat:
    encoding: str
    delimiter: str

    @property
    def delimiter_name(self) -> str:
        return {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}[self.delimiter]

    @property
    def encoding_name(self) -> str:
        return {
            "utf-8-sig": "UTF-8 (with BOM)",
            "utf-8": "UTF-8",
            "utf-16": "UTF-16",
            "cp1252": "Windows-1252 (Latin-1)",
            "latin-1": "Latin-1",
        }[self.encoding]


def not_csv(reason: str) -> ValidationError:
    return ValidationError({"file": reason})


def detect_encoding(path: Path) -> str:
    """The file's encoding: from its BOM, else UTF-8 when every byte decodes as UTF-8, else
    Windows-1252 (Latin-1 with the printable characters Windows puts in 0x80-0x9F), else
    Latin-1, which decodes any byte."""
    with path.open("rb") as file:
        head = file.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        if b"\x00" in head:
            raise not_csv("This is not a CSV file: it holds binary data.")
        for encoding in ("utf-8", "cp1252"):
            decoder = codecs.getincrementaldecoder(encoding)()
            file.seek(0)
            try:
                while chunk := file.read(SAMPLE_BYTES):
                    if b"\x00" in chunk:
                        raise not_csv("This is not a CSV file: it holds binary data.")
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
                return encoding
            except UnicodeDecodeError:
                continue
    return "latin-1"


def detect_format(path: Path) -> CsvFormat:
    """The encoding and the delimiter (the one of DELIMITERS the header line has most of)."""
    if path.stat().st_size == 0:
        raise not_csv("The file is empty.")
    encoding = detect_encoding(path)
    with path.open(encoding=encoding, newline="") as file:
        first_line = file.readline(SAMPLE_BYTES)
    if not first_line.strip():
        raise not_csv("The file's first line is empty: it should name the columns.")
    counts = {delimiter: first_line.count(delimiter) for delimiter in DELIMITERS}
    delimiter = max(DELIMITERS, key=lambda d: counts[d])
    return CsvFormat(encoding, delimiter if counts[delimiter] else ",")


@dataclass(frozen=True)
class Row:
    number: int  # the row's number in the file as a spreadsheet shows it (the header is 1)
    cells: list[str]


class CsvReader:
    """The header and the data rows of a file, a row at a time (memory stays flat)."""

    def __init__(self, path: Path, csv_format: CsvFormat) -> None:
        self.file = path.open(encoding=csv_format.encoding, newline="", errors="replace")
        self.reader = csv.reader(self.file, delimiter=csv_format.delimiter)
        try:
            header = next(self.reader, None)
        except csv.Error as error:
            self.close()
            raise not_csv(f"The first line cannot be read as CSV ({error}).") from None
        if header is None or not any(cell.strip() for cell in header):
            self.close()
            raise not_csv("The file has no header line naming the columns.")
        if len(header) > MAX_COLUMNS:
            self.close()
            raise not_csv(f"The file has {len(header)} columns; at most {MAX_COLUMNS} are read.")
        self.header = [cell.strip() for cell in header]
        self.record = 1  # the header's

    def rows(self) -> Iterator[Row]:
        """The data rows, blank lines skipped. A row that cannot be read (a cell longer than
        MAX_CELL_CHARS, a quote never closed) ends the file with a ValidationError that names
        it: the rows after it cannot be told apart."""
        while True:
            self.record += 1
            try:
                cells = next(self.reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise ValidationError(
                    {
                        "file": f"Row {self.record}: the file cannot be read from here "
                        f"on ({error}). Cells may hold at most {MAX_CELL_CHARS:,} characters."
                    }
                ) from None
            if any(cell.strip() for cell in cells):
                yield Row(self.record, [without_control_characters(cell) for cell in cells])

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> CsvReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def count_rows(path: Path, csv_format: CsvFormat) -> int:
    """The data rows of the file; past MAX_ROWS, a ValidationError."""
    with CsvReader(path, csv_format) as reader:
        count = 0
        for _ in reader.rows():
            count += 1
            if count > MAX_ROWS:
                raise ValidationError(
                    {
                        "file": f"The file has more than {MAX_ROWS:,} rows; split it into "
                        "several files."
                    }
                )
    return count
