"""Course and cohort sheets: pasted text, .csv and .xlsx to checked rows, templates, exports.

Plain functions, no views. Typical use::

    sheet = read_upload(uploaded_file, name=uploaded_file.name)   # or read_pasted(text)
    course = read_course(sheet, system="si")                       # SheetError if anything is wrong
    for row in course.rows: row.day, row.crs_grade, row.patient, row.values

Every refusal is a SheetError whose ``problems`` name the row and column (lazy translations).
"""

from predictor.sheets.course import Course, CourseRow, read_course
from predictor.sheets.errors import Problem, SheetError
from predictor.sheets.export import results_to_csv, results_to_xlsx
from predictor.sheets.headers import Column, match_headers
from predictor.sheets.sheet import Sheet, SheetRow
from predictor.sheets.templates import template_csv, template_xlsx
from predictor.sheets.upload import read_pasted, read_upload

__all__ = ["Column", "Course", "CourseRow", "Problem", "Sheet", "SheetError", "SheetRow",
           "match_headers", "read_course", "read_pasted", "read_upload", "results_to_csv",
           "results_to_xlsx", "template_csv", "template_xlsx"]
