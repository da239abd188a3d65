"""The triage desk: the pure decision model (``decision``), referral JSON (``referral``), the public
form as a referral (``public``), and the desk that receives, stores and routes (``desk``)."""
