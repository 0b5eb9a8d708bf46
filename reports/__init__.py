"""The report writers (HTML, JUnit, JSON, Markdown) and the ticket upload.

Runs from this checkout write their reports into this folder by default."""
