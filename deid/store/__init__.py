"""Mapping stores: where pseudonyms, subject IDs and date offsets come from.

The protocol they follow is part of the contract (:mod:`deid.contract.store`).
"""
