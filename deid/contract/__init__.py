"""The contract ``deid`` and the vault both speak, and the one part of ``deid`` the vault imports.

Light by rule: the standard library and pydantic only (no pydicom, Faker, httpx or
SQLAlchemy), so the vault can import it without the de-identifier, and ``deid``
without the vault. Import the submodule you need:

* :mod:`~deid.contract.store`: the mapping store protocol and what it answers;
* :mod:`~deid.contract.limits`: the sizes both sides enforce;
* :mod:`~deid.contract.trial_config`: a trial's settings file;
* :mod:`~deid.contract.subject_ids`: subject-ID templates with check digits;
* :mod:`~deid.contract.kinds`: mapping kinds (PSEUDO class names, ``UID``) and which
  of them identify someone;
* :mod:`~deid.contract.purposes`: why re-identification may be asked for;
* :mod:`~deid.contract.reidentification`: the re-identification flow's shapes;
* :mod:`~deid.contract.errors`: the error base of the ``deid`` program and the
  errors both vault clients raise.
"""
