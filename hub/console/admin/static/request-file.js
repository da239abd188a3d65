// The approve-a-registration-request page: read a chosen registration-request.json into the text box.
// Without JavaScript the file picker stays hidden and the operator pastes the request instead.
const picker = document.getElementById("request-file-group");
const input = document.getElementById("request-file");
const box = document.getElementById("request-json");
if (picker && input && box) {
  picker.hidden = false;
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    if (file) {
      box.value = await file.text();
    }
  });
}
