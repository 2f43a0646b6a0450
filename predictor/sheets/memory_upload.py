"""The upload handler every way a sheet comes in uses (the course page, the batch and validation
APIs): the file stays in memory, bounded, never in a temporary file."""

from __future__ import annotations

from django.core.files.uploadhandler import MemoryFileUploadHandler

from predictor.sheets.limits import sheet_limits


class BoundedMemoryUpload(MemoryFileUploadHandler):
    """Keeps an uploaded sheet in memory, never in a temporary file (patient rows are not
    written to disk), and keeps at most the sheet size limit + 1 byte of it: the rest of the
    stream is read and dropped, and ``read_upload`` refuses the file by its full size."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.activated = True  # whatever the request's length

    def receive_data_chunk(self, raw_data, start):
        room = sheet_limits().max_bytes + 1 - start
        if room > 0:
            self.file.write(raw_data[:room])
