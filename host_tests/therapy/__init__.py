"""Dose flow, first step: a prescription checked whole into a therapy, against the drug library, in exact units."""
