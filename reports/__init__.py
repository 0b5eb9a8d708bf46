"""The report writers (HTML, JUnit, JSON, Markdown), the merge of several runs' reports, their
retention, and the ticket upload.

Runs from this checkout write their reports into this folder by default."""
