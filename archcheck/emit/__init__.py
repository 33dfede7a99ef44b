"""What is made from a checked spec: PyTorch code (codegen/), diagrams (diagram.py), the summary table
(summary.py), the HTML report (htmlreport.py), validate's text/JSON (report.py), SARIF (sarif.py), the comparison
with torch (verify.py) and variant sweeps (explore.py)."""
