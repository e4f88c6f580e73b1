"""Re-identification of files: from de-identified DICOM back to the patient, with approval.

The pieces, each in its own module:

* :mod:`~deid.reidentify.scan`: what a de-identified file (or a new object that
  references one: SEG, SR, KOS, presentation state) holds that the vault can take
  back: its subject ID and every pseudonym, UIDs at any depth included;
* :mod:`~deid.reidentify.http`: the re-identification flow of the contract
  (:mod:`deid.contract.reidentification`: submit, list, show, approve, deny,
  release) with a deployed vault; the vault's own services answer it in this
  process too (``vault.embedded_reidentification``, for the demo);
* :mod:`~deid.reidentify.restore`: one dataset put back: identity, UIDs, dates,
  markers;
* :mod:`~deid.reidentify.job`: ``deid reidentify INPUT OUTPUT``: one request per
  subject, grants, atomic writes and the report;
* :mod:`~deid.reidentify.cli`: the ``reidentify`` and ``requests`` commands.
"""
