"""HSE L8 audit records: the hash-chained log, its verification, and the CSV / PDF exports."""
