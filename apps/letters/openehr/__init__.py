"""openEHR building blocks for clinical letters: the shipped template, FLAT
compositions and a small EHRbase REST client. No Django imports here."""
