"""Re-identification of files: from de-identified DICOM back to the patient, with approval.

The pieces, each in its own module:

* :mod:`~deid.reidentify.scan`: what a de-identified file (or a new object that
  references one: SEG, SR, KOS, presentation state) holds that the vault can take
  back: its subject ID and every pseudonym, UIDs at any depth included;
* :mod:`~deid.contract.reidentification`: the re-identification flow as ``deid`` sees it
  (submit, list, show, approve, deny, release), with two implementations:
  :mod:`~deid.reidentify.http` (a deployed vault) and :mod:`~deid.reidentify.embedded`
  (the vault's services in this process, for the demo and a local store);
* :mod:`~deid.reidentify.restore`: one dataset put back: identity, UIDs, dates,
  markers;
* :mod:`~deid.reidentify.job`: ``deid reidentify INPUT OUTPUT``: one request per
  subject, grants, atomic writes and the report;
* :mod:`~deid.reidentify.cli`: the ``reidentify`` and ``requests`` commands.
"""
